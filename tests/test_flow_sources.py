"""`clean-corpus` with declared sources: format readers feed curation, and unreadable files are counted.

Runs the real flow (Prefect's embedded API, temporary PREFECT_HOME from conftest) on files written
here: HTML pages made from the sample corpus's Portuguese text, a plain-text folder, a corrupt PDF
and a truncated gzip. Every input item must show up in the corpus's accounting, kept or rejected.
"""

from __future__ import annotations

import gzip
import html
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_sources_feed_curation_and_bad_files_are_rejections(tmp_path: Path) -> None:
    from flows import CleanCorpusParams, SourceParams, clean_corpus
    from garimpo.core import ArtifactStore
    from pipelines.sample_corpus import write_sample_corpus

    sample = tmp_path / "sample"
    write_sample_corpus(sample, n_docs=80)
    texts = []
    for line in (sample / "web.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the sample corpus plants malformed lines on purpose
        if record.get("id", "").startswith("web-") and len(record.get("text", "")) > 600:
            texts.append(record["text"])
    pages = tmp_path / "pages"
    pages.mkdir()
    for i, text in enumerate(texts[:4]):
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
        menu = "<nav><ul><li>Início</li><li>Contato</li><li>Sobre</li></ul></nav>"
        (pages / f"post-{i}.html").write_text(
            f"<html><head><title>Post {i}</title></head><body>{menu}<article>{paragraphs}</article>"
            "<footer>Postado por Maria às 10:00 | Marcadores: receitas</footer></body></html>"
        )
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text(texts[4])
    (notes / "b.txt.gz").write_bytes(gzip.compress(texts[5].encode())[:40])  # truncated archive
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    (pdfs / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not really a pdf \x00\x01")

    artifacts = tmp_path / "artifacts"
    ref = clean_corpus(
        CleanCorpusParams(
            name="fontes",
            inputs=[],
            sources=[
                SourceParams(path=str(pages), format="html", name="blog", license="CC-BY-4.0"),
                SourceParams(path=str(notes), format="text", name="notas"),
                SourceParams(path=str(pdfs), format="pdf", name="apostilas"),
            ],
            artifacts=str(artifacts),
        )
    )
    corpus = ArtifactStore(artifacts).load_ref(ref)
    stats = corpus.stats
    assert stats["documents_in"] == 7  # 4 pages + 2 text files + 1 pdf
    assert stats["documents_in"] == stats["documents_kept"] + stats["documents_rejected"]
    read = stats["stages"][0]
    source_reasons = {r: n for r, n in read["reasons"].items() if r.startswith("source: ")}
    assert sum(source_reasons.values()) == 2, read["reasons"]
    assert stats["documents_kept"] >= 4, stats
