"""Benchmark the curation stages on real data; prints one JSON line.

On ../shared/data/pt_text (every file, tweets and single sentences included) each stage of the pt
recipe runs in memory on the previous stage's survivors: documents/s and the kept fraction per stage,
plus the end-to-end kept fraction per corpus. On ../shared/data/langid: how often Portuguese, Galician,
Spanish and English items end up labelled pt and kept by the langid stage (the confusion rates).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from datatrove.data import Document

from pipelines.curate import stage_steps
from pipelines.recipe import load_recipe

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
LANGID_SETS = {
    "pt": ["langid/udhr/por_BR.jsonl", "langid/udhr/por_PT.jsonl"],
    "gl": ["langid/galician_ud/gl_treegal_test_all400.jsonl", "langid/galician_ud/gl_ctg_test_all861.jsonl"],
    "gl_udhr": ["langid/udhr/glg.jsonl"],
    "es": ["langid/udhr/spa.jsonl"],
    "en": ["langid/udhr/eng.jsonl"],
}


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


def run_stage(name: str, recipe, docs: list[Document]) -> list[Document]:
    data = iter(docs)
    for step in stage_steps(name, recipe):
        data = step.run(data)
    return list(data)


def main() -> None:
    if not (DATA / "pt_text").is_dir():
        print(json.dumps({"error": f"shared data not found at {DATA}"}))
        return
    recipe = load_recipe()
    files = sorted((DATA / "pt_text").rglob("*.jsonl"))
    docs = [d for f in files for d in load(f, f.stem)]
    per_corpus_in = Counter(d.metadata["corpus"] for d in docs)
    stages = {}
    current = docs
    for name in recipe.stages:
        start = time.perf_counter()
        kept = run_stage(name, recipe, current)
        seconds = time.perf_counter() - start
        stages[name] = {
            "in": len(current),
            "kept_fraction": round(len(kept) / max(len(current), 1), 4),
            "docs_per_s": round(len(current) / seconds, 1),
        }
        current = kept
    per_corpus_kept = Counter(d.metadata["corpus"] for d in current)

    langid = {}
    for label, rels in LANGID_SETS.items():
        items = [d for rel in rels if (DATA / rel).is_file() for d in load(DATA / rel, label)]
        if items:
            langid[f"{label}_kept_as_pt"] = round(len(run_stage("langid", recipe, items)) / len(items), 4)
            langid[f"{label}_n"] = len(items)

    print(
        json.dumps(
            {
                "bench": "curation",
                "recipe": recipe.name,
                "pt_text_documents": len(docs),
                "stages": stages,
                "kept_fraction_end_to_end": round(len(current) / len(docs), 4),
                "kept_fraction_by_corpus": {
                    c: round(per_corpus_kept[c] / n, 4) for c, n in sorted(per_corpus_in.items())
                },
                "langid": langid,
            }
        )
    )


if __name__ == "__main__":
    main()
