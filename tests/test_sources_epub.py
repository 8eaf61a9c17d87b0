"""EPUB reader: spine order, front matter dropped, paragraphs kept, damaged and DRM books rejected."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from pipelines.sources.readers import SourceSpec, is_rejection, read_source, write_jsonl

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
CHAPTER_ONE = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>Capítulo 1</title><style>p { margin: 0 }</style></head>
<body><section epub:type="chapter">
  <h1>Capítulo um</h1>
  <p>Era uma vez uma <em>menina</em> que morava
     perto do rio.</p>
  <p>Ela gostava de pão&nbsp;&amp; café.<br/>Todos os dias.</p>
  <script>var ignored = 1;</script>
</section></body></html>"""
CHAPTER_TWO = """<html><body><h2>Capítulo dois</h2><div><p>No dia seguinte, choveu.</p></div></body></html>"""
BOOK_TEXT = (
    "Capítulo um\nEra uma vez uma menina que morava perto do rio.\nEla gostava de pão & café.\nTodos os dias."
    "\n\nCapítulo dois\nNo dia seguinte, choveu."
)
FRONT = "<html><body><p>Editora Exemplo. Todos os direitos reservados.</p></body></html>"


def make_epub(
    path: Path,
    documents: list[tuple[str, str, str]],
    *,
    itemref_attrs: dict[str, str] | None = None,
    item_attrs: dict[str, str] | None = None,
    guide: str = "",
    extra_files: dict[str, str] | None = None,
    container: bool = True,
) -> Path:
    """A minimal EPUB: ``documents`` are (id, file name under OEBPS/, XHTML) in spine order.

    The zip stores them in reverse, so only a reader that follows the spine gets the order right.
    """
    items = "".join(
        f'<item id="{i}" href="{name}" media-type="application/xhtml+xml" {(item_attrs or {}).get(i, "")}/>'
        for i, name, _ in documents
    )
    spine = "".join(f'<itemref idref="{i}" {(itemref_attrs or {}).get(i, "")}/>' for i, _, _ in documents)
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:title>O rio</dc:title><dc:language>pt-BR</dc:language><dc:creator>Ana Autora</dc:creator>
  </metadata>
  <manifest>{items}<item id="css" href="style.css" media-type="text/css"/></manifest>
  <spine>{spine}</spine>{guide}
</package>"""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as book:
        book.writestr("mimetype", "application/epub+zip")
        if container:
            book.writestr("META-INF/container.xml", CONTAINER)
        for name, content in (extra_files or {}).items():
            book.writestr(name, content)
        book.writestr("OEBPS/content.opf", opf)
        for _, name, html in reversed(documents):
            book.writestr(f"OEBPS/{name}", html)
    return path


def read_one(path: Path, **spec_options: int) -> dict:
    records = list(read_source(SourceSpec(str(path), "epub", name="livros", **spec_options)))
    assert len(records) == 1, "one record per book"
    return records[0]


def test_spine_order_paragraphs_and_front_matter(tmp_path: Path) -> None:
    titlepage = '<html><body epub:type="frontmatter titlepage"><h1>O rio</h1><p>Ana Autora</p></body></html>'
    book = make_epub(
        tmp_path / "rio.epub",
        [
            ("capa", "capa.xhtml", "<html><body><p>O rio — Ana Autora</p></body></html>"),
            ("t", "p001.xhtml", titlepage),
            ("c", "p002.xhtml", FRONT),
            ("n", "p003.xhtml", "<html><body><nav><ol><li>Capítulo um</li></ol></nav></body></html>"),
            ("x", "p004.xhtml", "<html><body><p>Sumário: Capítulo um, Capítulo dois</p></body></html>"),
            ("one", "Text/part-b.xhtml", CHAPTER_ONE),
            ("two", "Text/part-a.xhtml", CHAPTER_TWO),
        ],
        item_attrs={"n": 'properties="nav"'},
        itemref_attrs={"x": 'linear="no"'},
        guide='<guide><reference type="copyright-page" href="p002.xhtml" title="Copyright"/></guide>',
    )
    record = read_one(book)
    assert not is_rejection(record)
    assert record["text"] == BOOK_TEXT
    meta = record["metadata"]
    assert (meta["title"], meta["language"], meta["creator"]) == ("O rio", "pt-BR", "Ana Autora")
    assert meta["chapters"] == 2 and meta["spine_documents"] == 7
    assert {d["path"]: d["reason"] for d in meta["front_matter"]} == {
        "OEBPS/capa.xhtml": "file name capa",
        "OEBPS/p001.xhtml": "epub:type titlepage",
        "OEBPS/p002.xhtml": "guide type copyright-page",
        "OEBPS/p003.xhtml": "nav document",
        "OEBPS/p004.xhtml": 'spine linear="no"',
    }


def test_a_book_in_one_unmarked_file_is_kept_whole(tmp_path: Path) -> None:
    book = make_epub(tmp_path / "um.epub", [("i", "index.xhtml", CHAPTER_ONE)], container=False)
    record = read_one(book)
    assert record["text"] == BOOK_TEXT.split("\n\n")[0], "found through the only .opf, nothing dropped"
    assert record["metadata"]["front_matter"] == []


def test_font_obfuscation_is_not_drm(tmp_path: Path) -> None:
    fonts_only = """<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
        xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>
        <enc:EncryptionMethod Algorithm="http://www.idpf.org/2008/embedding"/>
        <enc:CipherData><enc:CipherReference URI="OEBPS/fonts/a.otf"/></enc:CipherData>
        </enc:EncryptedData></encryption>"""
    book = make_epub(
        tmp_path / "fontes.epub",
        [("one", "c1.xhtml", CHAPTER_ONE)],
        extra_files={"META-INF/encryption.xml": fonts_only},
    )
    assert read_one(book)["text"].startswith("Capítulo um\n")


def test_damaged_and_drm_books_are_rejected_with_reasons(tmp_path: Path) -> None:
    folder = tmp_path / "livros"
    folder.mkdir()
    chapters = [("one", "c1.xhtml", CHAPTER_ONE), ("two", "c2.xhtml", CHAPTER_TWO)]
    good = make_epub(folder / "bom.epub", chapters)
    (folder / "lixo.epub").write_bytes(b"PK\x03\x04 this is not really a zip file" * 10)
    (folder / "cortado.epub").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "vazio.epub").write_bytes(b"")
    damaged = make_epub(folder / "crc.epub", chapters).read_bytes().replace(b"menina", b"menino")
    (folder / "crc.epub").write_bytes(damaged)
    with zipfile.ZipFile(folder / "sem-opf.epub", "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr("OEBPS/c1.xhtml", CHAPTER_ONE)
    drm = """<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
        xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>
        <enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
        <enc:CipherData><enc:CipherReference URI="OEBPS/c1.xhtml"/></enc:CipherData>
        </enc:EncryptedData></encryption>"""
    make_epub(folder / "drm.epub", chapters, extra_files={"META-INF/encryption.xml": drm})
    make_epub(folder / "capa-so.epub", [("c", "cover.xhtml", FRONT)])
    make_epub(folder / "opf-quebrado.epub", chapters, guide="<guide>")

    records = {
        r["id"].removeprefix("livros/"): r for r in read_source(SourceSpec(str(folder), "epub", "livros"))
    }
    reasons = {name: r.get("reason") for name, r in records.items()}
    assert reasons == {
        "bom.epub": None,
        "lixo.epub": "corrupt EPUB",
        "cortado.epub": "corrupt EPUB",
        "vazio.epub": "empty file",
        "crc.epub": "corrupt EPUB",
        "sem-opf.epub": "missing OPF",
        "drm.epub": "encrypted EPUB",
        "capa-so.epub": "empty document",
        "opf-quebrado.epub": "malformed OPF",
    }
    assert "aes128-cbc" in records["drm.epub"]["metadata"]["detail"]
    assert "c1.xhtml" in records["crc.epub"]["metadata"]["detail"]
    assert "no META-INF/container.xml" in records["sem-opf.epub"]["metadata"]["detail"]
    assert records["capa-so.epub"]["metadata"]["front_matter"][0]["reason"] == "file name cover"
    assert records["bom.epub"]["text"] == BOOK_TEXT


def test_chapters_past_max_bytes_are_rejected_and_counts_add_up(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_epub(tmp_path / "in" / "a.epub", [("one", "c1.xhtml", CHAPTER_ONE)])
    make_epub(tmp_path / "in" / "b.epub", [("one", "c1.xhtml", CHAPTER_ONE * 3)])
    spec = SourceSpec(str(tmp_path / "in"), "epub", "livros", max_bytes=len(CHAPTER_ONE.encode()) + 10)
    counts = write_jsonl([spec], tmp_path / "out.jsonl")
    assert counts["inputs"] == 2 == counts["documents"] + sum(counts["rejected"].values())
    assert counts["rejected"] == {"file too large": 1}
    kept = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in kept] == ["livros/a.epub"]
