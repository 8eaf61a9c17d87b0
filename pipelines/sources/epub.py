"""EPUB books: the chapters' text in reading order, without the front matter around it.

An EPUB is a zip holding XHTML files; ``META-INF/container.xml`` points to the OPF package file,
whose ``<spine>`` gives the reading order. The zip's own order is not the reading order, so the
spine is followed, never the file list.

Front matter is dropped because it is the same few pages in every book (cover, title page,
copyright notice, table of contents) and would otherwise repeat across a whole library of books.
A spine document is front matter when any of these says so, strongest signal first:

1. the spine marks it ``linear="no"`` (off the reading path);
2. the manifest gives it the EPUB 3 ``nav`` property (the navigation document);
3. the OPF 2 ``<guide>`` or the document's own ``epub:type`` (on ``<body>`` or its first
   ``<section>``) names it cover, title page, copyright, table of contents, …;
4. its file name, cut at ``-``, ``_`` and ``.``, holds a word like ``cover``, ``capa``, ``toc``,
   ``copyright`` or ``titlepage`` (many books carry no markup at all, only such names).

Paragraph breaks stay: every block element ends a line, and chapters are separated by a blank line.
Only the standard library is used (``zipfile``, ``xml.etree`` for the package files, ``html.parser``
for the chapters, which forgives the broken XHTML many EPUBs ship).

Rejections: ``corrupt EPUB`` (not a zip, a damaged member, a spine entry missing from the zip),
``missing OPF``, ``malformed OPF``, ``encrypted EPUB`` (``META-INF/encryption.xml`` encrypting
anything beyond the font obfuscation EPUB allows: DRM; or password-protected zip members),
``file too large`` (the chapters unpack past ``max_bytes``: also a guard against zip bombs),
``invalid UTF-8`` / ``invalid encoding`` (a chapter that does not decode as it declares),
``empty file`` and ``empty document``.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

from pipelines.sources.readers import Record, SourceSpec, base_metadata, document, iter_files, rejection

CONTAINER = "META-INF/container.xml"
ENCRYPTION = "META-INF/encryption.xml"
# Font obfuscation (IDPF and Adobe) scrambles embedded fonts only; it is not DRM on the text.
FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
TEXT_MEDIA_TYPES = {"application/xhtml+xml", "text/html", "application/x-dtbook+xml"}
# epub:type values (EPUB 3 structural semantics) and OPF 2 guide types that mean front matter.
FRONT_MATTER_TYPES = {
    "cover",
    "titlepage",
    "title-page",
    "halftitlepage",
    "copyright-page",
    "copyright",
    "imprint",
    "colophon",
    "toc",
    "landmarks",
    "loi",
    "lot",
}
# Words in a file name that mean front matter, in English and Portuguese. Not "index": some books
# are one file called index.xhtml.
FRONT_MATTER_NAMES = {
    "cover",
    "capa",
    "titlepage",
    "title",
    "halftitle",
    "rosto",
    "copyright",
    "creditos",
    "ficha",
    "colophon",
    "toc",
    "nav",
    "contents",
    "sumario",
}
_NAME_WORDS = re.compile(r"[-_.\s]+")
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "aside",
    "header",
    "footer",
    "blockquote",
    "pre",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "figcaption",
    "hr",
    "br",
    "body",
}
_SKIPPED_TAGS = {"head", "script", "style", "svg", "math"}


class EpubError(Exception):
    """A book that cannot be read; ``reason`` is the rejection category, the message the detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class SpineItem:
    """One document of the reading order, as the OPF describes it."""

    path: str  # inside the zip
    media_type: str
    linear: bool
    properties: set[str]
    guide_type: str | None


class _ChapterText(HTMLParser):
    """Text of one XHTML document with one line per block element, and the document's epub:type."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.types: set[str] = set()
        self._current: list[str] = []
        self._skip_depth = 0
        self._typed_elements = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        if tag in ("body", "section") and self._typed_elements < 2:
            # <body> and the first <section> carry the document's role; deeper ones describe parts.
            self._typed_elements += 1
            self.types.update((dict(attrs).get("epub:type") or "").lower().split())
        if tag in _BLOCK_TAGS:
            self._end_line()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skip_depth:
            self._skip_depth -= 1
        if tag in _BLOCK_TAGS:
            self._end_line()

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._current.append(data)

    def _end_line(self) -> None:
        line = " ".join("".join(self._current).split())
        if line:
            self.lines.append(line)
        self._current = []

    def text(self) -> str:
        self._end_line()
        return "\n".join(self.lines)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse_xml(data: bytes, what: str, reason: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as error:
        raise EpubError(reason, f"{what}: {error}") from error


def _read_member(book: zipfile.ZipFile, name: str) -> bytes:
    try:
        return book.read(name)
    except KeyError as error:
        raise EpubError("corrupt EPUB", f"{name} is listed but not in the zip") from error
    except RuntimeError as error:  # zipfile's "File ... is encrypted, password required"
        raise EpubError("encrypted EPUB", f"{name}: {error}") from error
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as error:
        raise EpubError("corrupt EPUB", f"{name}: {error}") from error


def check_encryption(book: zipfile.ZipFile) -> None:
    """Raise ``encrypted EPUB`` when ``encryption.xml`` encrypts more than fonts (DRM)."""
    if ENCRYPTION not in book.namelist():
        return
    root = _parse_xml(_read_member(book, ENCRYPTION), ENCRYPTION, "encrypted EPUB")
    drm = [
        method.get("Algorithm", "")
        for method in root.iter()
        if _local(method.tag) == "EncryptionMethod" and method.get("Algorithm") not in FONT_OBFUSCATION
    ]
    if drm:
        raise EpubError("encrypted EPUB", f"{ENCRYPTION} encrypts {len(drm)} files with {sorted(set(drm))}")


def find_opf(book: zipfile.ZipFile) -> str:
    """The package file's path: from ``container.xml``, else the only ``.opf`` in the zip."""
    names = book.namelist()
    if CONTAINER in names:
        root = _parse_xml(_read_member(book, CONTAINER), CONTAINER, "missing OPF")
        for rootfile in root.iter():
            path = rootfile.get("full-path")
            if _local(rootfile.tag) == "rootfile" and path and path in names:
                return path
    opfs = [name for name in names if name.lower().endswith(".opf")]
    if len(opfs) == 1:
        return opfs[0]
    container = f"{CONTAINER} names no package file in the zip" if CONTAINER in names else f"no {CONTAINER}"
    raise EpubError("missing OPF", f"{container}, and {len(opfs)} .opf files instead of one")


def read_package(book: zipfile.ZipFile, opf_path: str) -> tuple[list[SpineItem], dict[str, str]]:
    """The spine in reading order and the book's Dublin Core title, language and creator."""
    root = _parse_xml(_read_member(book, opf_path), opf_path, "malformed OPF")
    base = posixpath.dirname(opf_path)

    def resolve(href: str) -> str:
        return posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0])))

    items: dict[str, tuple[str, str, set[str]]] = {}
    guide: dict[str, str] = {}
    info: dict[str, str] = {}
    for element in root.iter():
        name = _local(element.tag)
        if name == "item" and element.get("id") and element.get("href"):
            properties = set((element.get("properties") or "").split())
            items[element.get("id", "")] = (
                resolve(element.get("href", "")),
                (element.get("media-type") or "").lower(),
                properties,
            )
        elif name == "reference" and element.get("href") and element.get("type"):
            guide.setdefault(resolve(element.get("href", "")), element.get("type", "").lower())
        elif name in ("title", "language", "creator") and name not in info and (element.text or "").strip():
            info[name] = element.text.strip()
    spine = [element for element in root.iter() if _local(element.tag) == "itemref"]
    if not spine:
        raise EpubError("malformed OPF", f"{opf_path} has an empty <spine>")
    order = []
    for ref in spine:
        if ref.get("idref") not in items:
            raise EpubError("malformed OPF", f"spine entry {ref.get('idref')!r} is not in the manifest")
        path, media_type, properties = items[ref.get("idref", "")]
        linear = (ref.get("linear") or "yes").lower() != "no"
        order.append(SpineItem(path, media_type, linear, properties, guide.get(path)))
    return order, info


def _decode(data: bytes, name: str) -> str:
    declared = _XML_ENCODING.match(data)
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except (UnicodeDecodeError, LookupError) as error:
        reason = "invalid UTF-8" if encoding.lower().replace("-", "") == "utf8" else "invalid encoding"
        raise EpubError(reason, f"{name}: {error}") from error


def front_matter_reason(item: SpineItem, epub_types: set[str]) -> str | None:
    """Why a spine document is front matter (see the module docstring), or None for body text."""
    if not item.linear:
        return 'spine linear="no"'
    if "nav" in item.properties:
        return "nav document"
    if item.guide_type in FRONT_MATTER_TYPES:
        return f"guide type {item.guide_type}"
    typed = sorted(epub_types & FRONT_MATTER_TYPES)
    if typed:
        return f"epub:type {typed[0]}"
    stem = posixpath.splitext(posixpath.basename(item.path))[0].lower()
    named = sorted(set(_NAME_WORDS.split(stem)) & FRONT_MATTER_NAMES)
    if named:
        return f"file name {named[0]}"
    return None


def epub_text(book: zipfile.ZipFile, max_bytes: int) -> tuple[str, dict[str, Any]]:
    """The body text of an open EPUB and what was learned on the way; EpubError if unusable."""
    check_encryption(book)
    opf_path = find_opf(book)
    spine, info = read_package(book, opf_path)
    text_items = [item for item in spine if item.media_type in TEXT_MEDIA_TYPES]
    sizes = {member.filename: member.file_size for member in book.infolist()}
    unpacked = sum(sizes.get(item.path, 0) for item in text_items)
    if unpacked > max_bytes:
        raise EpubError("file too large", f"chapters unpack to {unpacked} bytes, over {max_bytes}")
    chapters: list[str] = []
    dropped: list[dict[str, str]] = []
    for item in text_items:
        parser = _ChapterText()
        parser.feed(_decode(_read_member(book, item.path), item.path))
        text = parser.text()
        reason = front_matter_reason(item, parser.types)
        if reason:
            dropped.append({"path": item.path, "reason": reason})
        elif text:
            chapters.append(text)
    meta = {
        "opf": opf_path,
        **info,
        "spine_documents": len(spine),
        "chapters": len(chapters),
        "front_matter": dropped,
    }
    return "\n\n".join(chapters), meta


def read_epub(spec: SourceSpec) -> Iterator[Record]:
    """One record per EPUB file: the chapters' text in spine order, or a rejection saying why not."""
    for path, doc_id in iter_files(spec):
        meta = base_metadata(spec, path)
        if path.stat().st_size == 0:
            yield rejection(doc_id, spec.name, "empty file", meta)
            continue
        try:
            with zipfile.ZipFile(path) as book:
                text, found = epub_text(book, spec.max_bytes)
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, ValueError) as error:
            # NotImplementedError: a zip version or compression zipfile cannot read (or damage saying so).
            yield rejection(doc_id, spec.name, "corrupt EPUB", {**meta, "detail": f"not a readable zip: {error}"})
            continue
        except EpubError as error:
            yield rejection(doc_id, spec.name, error.reason, {**meta, "detail": str(error)})
            continue
        meta.update(found)
        if not text.strip():
            detail = f"no body text ({len(found['front_matter'])} front-matter documents dropped)"
            yield rejection(doc_id, spec.name, "empty document", {**meta, "detail": detail})
            continue
        yield document(doc_id, text, spec.name, meta)
