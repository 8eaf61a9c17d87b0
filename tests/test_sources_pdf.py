"""PDF reader: running lines, dehyphenation, garbage text layers, and the real PDFs in shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.sources.pdf import (
    _PAGE_NUMBER,
    dehyphenate,
    extract_pdf_text,
    garbage_reason,
    remove_running_lines,
)
from pipelines.sources.readers import SourceSpec, is_rejection, read_source

WORDS = ["rios", "mares", "lagos", "serras", "vales", "campos", "matas", "praias"]
PDFS = Path(__file__).parents[1] / ".." / "shared" / "data" / "pdfs"


def make_pdf(pages: list[list[str]]) -> bytes:
    """A real, minimal PDF with one Helvetica text line per entry (pdfium rebuilds the xref)."""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        None,
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for lines in pages:
        ops = " ".join(f"BT /F1 11 Tf 72 {760 - 14 * i} Td ({line}) Tj ET" for i, line in enumerate(lines))
        objects.append(f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {len(objects)} 0 R >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    body = "%PDF-1.4\n" + "".join(f"{n} 0 obj\n{obj}\nendobj\n" for n, obj in enumerate(objects, start=1))
    body += f"trailer\n<< /Root 1 0 R /Size {len(objects) + 1} >>\n%%EOF\n"
    return body.encode("latin-1")


def test_running_headers_and_page_numbers_are_removed():
    pages = [
        [f"Relatorio anual 2020 - capitulo {i}", f"Texto sobre {word}.", str(i + 1)]
        for i, word in enumerate(WORDS)
    ]
    assert remove_running_lines(pages) == [[f"Texto sobre {word}."] for word in WORDS]


def test_header_carrying_the_printed_page_number_is_removed():
    pages = [[f"{i + 3} Capitulo sobre {word}", f"Corpo com {word}."] for i, word in enumerate(WORDS)]
    assert remove_running_lines(pages) == [[f"Corpo com {word}."] for word in WORDS]


def test_dehyphenation_keeps_compounds_and_clitics():
    text = "o guarda-\nchuva abriu; um guarda-chuva novo.\nSeja bem-\nvindo! Ela dá-\nse bem com a obri\ngatória e a obri-\ngatória"
    assert dehyphenate(text) == (
        "o guarda-chuva abriu; um guarda-chuva novo.\nSeja bem-vindo! Ela dá-se bem com a obri\ngatória e a obrigatória"
    )
    assert dehyphenate("especí\ufffefica e compu-\ntador") == "específica e computador"


def test_glyph_mapping_errors_and_replacement_characters_are_garbage():
    assert garbage_reason("A Agęncia de experięncia não funciona.")[0] == "glyph-mapping errors"
    assert garbage_reason("texto \ufffd\ufffd\ufffd quebrado")[0] == "garbled text layer"
    assert garbage_reason("A Agência de experiência não funciona.") is None


def test_reader_on_built_files(tmp_path):
    bodies = [
        f"Este paragrafo sobre {word} tem palavras suficientes para contar como texto." for word in WORDS
    ]
    (tmp_path / "good.pdf").write_bytes(
        make_pdf([["Cabecalho", body, str(n)] for n, body in enumerate(bodies, 1)])
    )
    (tmp_path / "blank.pdf").write_bytes(make_pdf([[], []]))
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.4\nnot a pdf at all")
    (tmp_path / "empty.pdf").write_bytes(b"")
    records = {r["id"].split("/")[-1]: r for r in read_source(SourceSpec(str(tmp_path), "pdf", "p"))}
    assert records["good.pdf"]["text"] == "\n".join(bodies)
    assert records["good.pdf"]["metadata"]["pages"] == 8
    assert records["blank.pdf"]["reason"] == "no text layer"
    assert records["corrupt.pdf"]["reason"] == "corrupt PDF"
    assert records["empty.pdf"]["reason"] == "empty file"


@pytest.fixture(scope="module")
def shared_pdfs():
    if not PDFS.is_dir():
        pytest.skip("../shared/data/pdfs is absent")
    records = list(read_source(SourceSpec(str(PDFS / "pt"), "pdf", "pt")))
    records += read_source(SourceSpec(str(PDFS / "other"), "pdf", "other"))
    return {Path(r["metadata"]["path"]).stem: r for r in records}


@pytest.mark.shared_data
def test_shared_pdfs_rejected_with_their_reasons(shared_pdfs):
    reasons = {name: r["reason"] for name, r in shared_pdfs.items() if is_rejection(r)}
    assert reasons["005-libreoffice-writer-password_libreoffice-writer-password"] == "encrypted PDF"
    assert reasons["007-imagemagick-images_imagemagick-CCITTFaxDecode"] == "no text layer"
    assert reasons["007-imagemagick-images_imagemagick-images"] == "no text layer"
    assert reasons["abntex2-slides-araujo2013"] == "glyph-mapping errors"
    assert "abntex2-manual" not in reasons and "026-latex-multicolumn_multicolumn" not in reasons


@pytest.mark.shared_data
def test_no_running_header_or_page_number_survives_on_pt(shared_pdfs):
    for name, record in shared_pdfs.items():
        path = Path(record["metadata"]["path"])
        if is_rejection(record) or path.parent.name != "pt":
            continue
        raw, _ = extract_pdf_text(str(path))
        pages = remove_running_lines([[line.strip() for line in p.split("\n") if line.strip()] for p in raw])
        edges = [line for lines in pages for line in lines[:2] + lines[-2:]]
        assert not [line for line in edges if _PAGE_NUMBER.match(line)], name
        assert remove_running_lines(pages) == pages, name  # nothing left that the rule would still catch
    manual = shared_pdfs["abntex2-manual"]["text"]
    assert (
        "\ufffe" not in manual
        and "Capítulo 1. Resultados" not in shared_pdfs["abntex2-modelo-trabalho-academico"]["text"]
    )
