"""Benchmark the curation stages on real data; prints one JSON line.

On ../shared/data/pt_text (every file, tweets and single sentences included) each stage of the pt
recipe runs in memory, in one process (one core), on the previous stage's survivors: documents/s, MB/s
and the kept fraction per stage, plus the end-to-end kept fraction per corpus. Beside it, in the same
run and on the same data, plain datatrove runs the same steps with the same thresholds
(FTFYFormatter, the same lid.176 stage since datatrove's LanguageFilter downloads its model,
GopherRepetitionFilter, GopherQualityFilter, FineWebQualityFilter, PIIFormatter); datatrove's MinHash
needs its 4 disk stages and is not timed. Models and tokenizers are loaded before timing on both sides.
Real clean Portuguese dropped by language ID + quality is reported by stage and reason for the
multi-sentence corpora. Peak RSS is measured in subprocesses streaming 1x and 10x the input through
every stage. On ../shared/data/langid: how often Portuguese, Galician, Spanish and English items end up
labelled pt and kept by the langid stage (the confusion rates).

    .venv/bin/python -m bench.curation
"""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.formatters import FTFYFormatter, PIIFormatter

from pipelines.phases import stage_steps
from pipelines.recipe import load_recipe
from pipelines.stages.accounting import REASON_KEY
from pipelines.stages.langid import LanguageID
from pipelines.stages.words import word_splitter

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
LANGID_SETS = {
    "pt": ["langid/udhr/por_BR.jsonl", "langid/udhr/por_PT.jsonl"],
    "gl": ["langid/galician_ud/gl_treegal_test_all400.jsonl", "langid/galician_ud/gl_ctg_test_all861.jsonl"],
    "gl_udhr": ["langid/udhr/glg.jsonl"],
    "es": ["langid/udhr/spa.jsonl"],
    "en": ["langid/udhr/eng.jsonl"],
}


CLEAN_CORPORA = ("bosque_docs", "porttinari_devtest_docs", "petrogold_devtest_docs", "machado_chapters")
LOSS_STAGES = ("langid", "gopher_repetition", "gopher_quality", "fineweb_quality")


def load(path: Path, corpus: str) -> list[Document]:
    docs = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        r = json.loads(line)
        docs.append(
            Document(
                text=r.get("text") or r["text_hardwrapped"], id=f"{corpus}/{i}", metadata={"corpus": corpus}
            )
        )
    return docs


def megabytes(docs: list[Document]) -> float:
    return sum(len(d.text.encode("utf-8")) for d in docs) / 1e6


def timed(steps, docs: list[Document]) -> tuple[list[Document], float, list[Document]]:
    """(kept, seconds, rejected); rejections get their reason from the filter's verdict."""
    for step in steps:  # exclusion writers are off here, so record reasons as datatrove would write them
        if hasattr(step, "filter"):
            step.exclusion_writer = _ReasonSink()
    start = time.perf_counter()
    data = iter(docs)
    for step in steps:
        data = step.run(data)
    kept = list(data)
    seconds = time.perf_counter() - start
    kept_ids = {id(d) for d in kept}
    return kept, seconds, [d for d in docs if id(d) not in kept_ids]


class _ReasonSink:
    """A stand-in exclusion writer: datatrove's BaseFilter records the reason only when one is set."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def write(self, doc: Document, rank: int = 0) -> None:
        return None


def datatrove_steps(name: str, recipe) -> list:
    """Plain datatrove doing the same step with the same thresholds (pt switches off)."""
    lang = recipe.word_tokenizer
    rep = dataclasses.asdict(recipe.gopher_repetition)
    rep.pop("min_top_ngram_count")
    gq = dataclasses.asdict(recipe.gopher_quality)
    for key in ("stop_words_casefold", "dialogue_dashes", "min_ellipsis_lines"):
        gq.pop(key)
    gq["stop_words"] = list(gq["stop_words"])
    fw = dataclasses.asdict(recipe.fineweb_quality)
    for key in ("closing_marks", "inner_sentence_ends"):
        fw.pop(key)
    steps = {
        "normalize": lambda: [FTFYFormatter()],
        "langid": lambda: [LanguageID(recipe.language, recipe.langid)],
        "gopher_repetition": lambda: [GopherRepetitionFilter(language=lang, **rep)],
        "gopher_quality": lambda: [GopherQualityFilter(language=lang, **gq)],
        "fineweb_quality": lambda: [FineWebQualityFilter(language=lang, **fw)],
        "pii": lambda: [PIIFormatter()],
    }
    return steps[name]() if name in steps else []


def warm_up(recipe) -> None:
    """Load lid.176, spaCy, ftfy and the PII patterns on both sides so timings hold no start-up cost."""
    sample = [Document(text="O governo anunciou hoje novas medidas para a economia do país.", id="w")]
    for name in recipe.stages:
        for steps in (stage_steps(name, recipe), datatrove_steps(name, recipe)):
            timed(steps, [Document(text=d.text, id=d.id) for d in sample])


def chain(
    recipe, docs: list[Document], side: str, fresh_caches: bool = False
) -> tuple[dict, list[Document], list[tuple[str, Document]]]:
    """Every stage on the previous one's survivors. ``fresh_caches`` empties the word cache before each
    stage, as when every stage runs in its own process (the executors' way)."""
    stages, current, rejected = {}, docs, []
    for name in recipe.stages:
        steps = stage_steps(name, recipe) if side == "garimpo" else datatrove_steps(name, recipe)
        if not steps:
            continue
        if fresh_caches:
            word_splitter(recipe.word_tokenizer).clear()
        mb = megabytes(current)
        kept, seconds, dropped = timed(steps, current)
        rejected += [(name, d) for d in dropped]
        stages[name] = {
            "in": len(current),
            "kept_fraction": round(len(kept) / max(len(current), 1), 4),
            "docs_per_s": round(len(current) / seconds, 1),
            "mb_per_s": round(mb / seconds, 3),
            "seconds": round(seconds, 3),
        }
        current = kept
    return stages, current, rejected


def clean_losses(rejected: list[tuple[str, Document]], docs: list[Document]) -> dict:
    """Real clean Portuguese dropped by language ID and quality, by stage and reason."""
    clean = [d for d in docs if d.metadata["corpus"] in CLEAN_CORPORA]
    lost = Counter(
        (stage, d.metadata.get(REASON_KEY, "filtered"))
        for stage, d in rejected
        if stage in LOSS_STAGES and d.metadata["corpus"] in CLEAN_CORPORA
    )
    return {
        "documents": len(clean),
        "dropped_fraction": round(sum(lost.values()) / len(clean), 4),
        "by_stage_reason": {f"{s}:{r}": n for (s, r), n in lost.most_common()},
    }


def peak_rss_mb(copies: int) -> float:
    """Peak RSS of a fresh process streaming ``copies`` x pt_text through every stage (generators end to end)."""
    code = f"""
import json, resource
from pathlib import Path
from datatrove.data import Document
from pipelines.phases import stage_steps
from pipelines.recipe import load_recipe
recipe = load_recipe()
files = sorted(Path({str(DATA / "pt_text")!r}).rglob("*.jsonl"))
def stream():
    for copy in range({copies}):
        for f in files:
            with open(f, encoding="utf-8") as fh:
                for i, line in enumerate(fh):
                    r = json.loads(line)
                    text = r.get("text") or r["text_hardwrapped"]
                    yield Document(text=f"{{text}} ({{copy}})", id=f"{{copy}}/{{f.stem}}/{{i}}",
                                   metadata={{"input_file": f.stem, "input_line": copy * 100000 + i}})
data = stream()
for name in recipe.stages:
    for step in stage_steps(name, recipe):
        data = step.run(data)
n = sum(1 for _ in data)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def main() -> None:
    if not (DATA / "pt_text").is_dir():
        print(json.dumps({"error": f"shared data not found at {DATA}"}))
        return
    recipe = load_recipe()
    files = sorted((DATA / "pt_text").rglob("*.jsonl"))
    warm_up(recipe)
    results = {}
    for side in ("garimpo", "datatrove"):
        docs = [d for f in files for d in load(f, f.stem)]
        stages, kept, rejected = chain(recipe, docs, side)
        total = sum(s["seconds"] for s in stages.values())
        filters = [n for n in stages if n != "dedup"]
        results[side] = {
            "stages": stages,
            "end_to_end_mb_per_s": round(megabytes(docs) / total, 3),
            "end_to_end_docs_per_s": round(len(docs) / total, 1),
            "without_dedup_mb_per_s": round(megabytes(docs) / sum(stages[n]["seconds"] for n in filters), 3),
            "kept_fraction_end_to_end": round(len(kept) / len(docs), 4),
            "clean_pt_dropped": clean_losses(rejected, docs),
        }
        if side == "garimpo":
            per_corpus_in = Counter(d.metadata["corpus"] for d in docs)
            per_corpus_kept = Counter(d.metadata["corpus"] for d in kept)
            results[side]["kept_fraction_by_corpus"] = {
                c: round(per_corpus_kept[c] / n, 4) for c, n in sorted(per_corpus_in.items())
            }
    g, d = results["garimpo"], results["datatrove"]
    docs = [d for f in files for d in load(f, f.stem)]
    fresh, _, _ = chain(recipe, docs, "garimpo", fresh_caches=True)
    g["end_to_end_mb_per_s_fresh_word_cache_per_stage"] = round(
        megabytes(docs) / sum(s["seconds"] for s in fresh.values()), 3
    )
    speedup = round(
        d["without_dedup_mb_per_s"] and g["without_dedup_mb_per_s"] / d["without_dedup_mb_per_s"], 2
    )

    langid = {}
    for label, rels in LANGID_SETS.items():
        items = [x for rel in rels if (DATA / rel).is_file() for x in load(DATA / rel, label)]
        if items:
            kept, _, _ = timed(stage_steps("normalize", recipe) + stage_steps("langid", recipe), items)
            langid[f"{label}_kept_as_pt"] = round(len(kept) / len(items), 4)
            langid[f"{label}_n"] = len(items)

    print(
        json.dumps(
            {
                "bench": "curation",
                "recipe": recipe.name,
                "pt_text_documents": sum(1 for f in files for _ in f.open()),
                "pt_text_mb": round(sum(f.stat().st_size for f in files) / 1e6, 2),
                "garimpo": g,
                "datatrove": d,
                "speedup_filters_vs_datatrove": speedup,
                "peak_rss_mb": {"1x": peak_rss_mb(1), "10x": peak_rss_mb(10)},
                "bench_process_peak_rss_mb": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
                "langid": langid,
            }
        )
    )


if __name__ == "__main__":
    main()
