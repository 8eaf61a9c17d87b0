"""Curation stages on real Portuguese text and on Galician/Spanish language-ID data (../shared/data).

Figures measured when these floors were set (docs/curation.md): the pt recipe keeps 0.958 of the
multi-sentence Portuguese documents (Bosque, Porttinari, PetroGold, Machado; 0.914 before the pt rule
changes of pipelines/stages/quality.py); lid.176 at 0.65 labels
2.8% of Galician UD sentences (TreeGal 7.0%) and ~0% of UDHR Spanish as Portuguese.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datatrove.data import Document

from pipelines.phases import stage_steps
from pipelines.recipe import load_recipe

DATA = Path(__file__).parents[1] / ".." / "shared" / "data"
DOCUMENT_FILES = [
    "pt_text/bosque_docs.jsonl",
    "pt_text/porttinari_devtest_docs.jsonl",
    "pt_text/petrogold_devtest_docs.jsonl",
    "pt_text/literature/machado_chapters.jsonl",
]
FILTER_STAGES = ["normalize", "langid", "gopher_repetition", "gopher_quality", "fineweb_quality"]

pytestmark = pytest.mark.shared_data


def load(rel: str) -> list[Document]:
    path = DATA / rel
    if not path.is_file():
        pytest.skip(f"shared data not found: {path}")
    docs = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        # Machado chapters only carry the hard-wrapped text; keep its line breaks as published.
        text = record.get("text") or record["text_hardwrapped"]
        docs.append(Document(text=text, id=str(record.get("id", i))))
    return docs


def kept_through(stages: list[str], docs: list[Document]) -> list[Document]:
    recipe = load_recipe()
    data = iter(docs)
    for name in stages:
        for step in stage_steps(name, recipe):
            data = step.run(data)
    return list(data)


def test_real_portuguese_documents_are_mostly_kept():
    docs = [d for rel in DOCUMENT_FILES for d in load(rel)]
    kept = kept_through(FILTER_STAGES, docs)
    fraction = len(kept) / len(docs)
    print(f"kept {len(kept)}/{len(docs)} = {fraction:.3f}")
    assert fraction >= 0.95


@pytest.mark.parametrize(
    ("rel", "max_as_pt"),
    [
        ("langid/galician_ud/gl_treegal_test_all400.jsonl", 0.10),
        ("langid/galician_ud/gl_ctg_test_all861.jsonl", 0.10),
        ("langid/udhr/glg.jsonl", 0.10),
        ("langid/udhr/spa.jsonl", 0.02),
    ],
)
def test_galician_and_spanish_are_rarely_kept_as_portuguese(rel, max_as_pt):
    docs = load(rel)
    kept = kept_through(["normalize", "langid"], docs)
    rate = len(kept) / len(docs)
    print(f"{rel}: kept as pt {len(kept)}/{len(docs)} = {rate:.3f}")
    assert rate < max_as_pt


def test_portuguese_udhr_passes_language_id():
    docs = [
        d for d in load("langid/udhr/por_BR.jsonl") + load("langid/udhr/por_PT.jsonl") if len(d.text) > 80
    ]
    rate = len(kept_through(["normalize", "langid"], docs)) / len(docs)
    print(f"UDHR pt paragraphs kept: {rate:.3f}")
    assert rate >= 0.9
