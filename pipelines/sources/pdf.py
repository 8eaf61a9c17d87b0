"""PDF text: extraction with PDFium, then cleanup that PDFs need and other formats don't.

Why PDFium (pypdfium2): on the 20 PDFs in ../shared/data/pdfs it was 8x faster than pypdf and 28x
faster than pdfplumber with as many words, keeps two-column LaTeX in reading order, keeps the
inter-word spaces pypdf loses on justified lines, and marks hyphens it inserted at line breaks with
U+FFFE, which makes dehyphenation exact (see docs/sources.md for the figures).

Cleanup, in order: running headers/footers and page numbers (a normalised edge line on at least a
quarter of the pages and at least 5 pages, FinePDFs' rule; plus edge lines carrying the printed
page number, found by a constant offset between printed and physical page numbers), ligatures,
and dehyphenation that keeps real compounds (``guarda-chuva``) and Portuguese clitics (``dá-se``).
Garbage text layers are rejected, not cleaned: no text layer (scans), glyph-mapping errors
("Agęncia" for "Agência"), replacement/private-use characters, and encrypted or corrupt files.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator

import pypdfium2 as pdfium

from pipelines.sources.readers import Record, SourceSpec, base_metadata, document, iter_files, rejection

EDGE_LINES = 2  # lines at the top and at the bottom of a page that can be running headers/footers
MIN_BOILERPLATE_PAGES = 5
MIN_BOILERPLATE_FRACTION = 0.25
MIN_CHARS_PER_PAGE = 20  # fewer letters and digits than this on average: no usable text layer
MAX_GARBLED_FRACTION = 0.01

_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_SOFT_HYPHEN = "\ufffe"  # PDFium's mark for a hyphen it inferred at a line break
_PAGE_NUMBER = re.compile(
    r"^\s*(?:p[áa]gina\s+)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:de|/|of)\s*\d{1,4})?\s*$", re.I
)
_EDGE_NUMBER = re.compile(r"^(\d{1,4})(?:\s+\S|$)|\S\s+(\d{1,4})$")
# Letters that Portuguese never uses but a broken font map produces in place of its accents.
_GLYPH_CONFUSABLES = "ęěėēăąőűůĺľŕ"
_PORTUGUESE_MARKS = re.compile(r"[ãõçâêôáéíóú]", re.I)
_CLITICS = {
    "se",
    "me",
    "te",
    "nos",
    "vos",
    "lhe",
    "lhes",
    "o",
    "a",
    "os",
    "as",
    "lo",
    "la",
    "los",
    "las",
    "no",
    "na",
}
_HYPHEN_PREFIXES = {
    "bem",
    "mal",
    "pós",
    "pré",
    "pró",
    "ex",
    "vice",
    "sem",
    "além",
    "recém",
    "auto",
    "anti",
    "super",
}


def _edge_key(line: str) -> str:
    # Digits change from page to page in otherwise identical headers ("Capítulo 1 ... 12").
    return re.sub(r"\d+", "0", re.sub(r"\s+", "", line.lower()))


def _edges(lines: list[str]) -> list[int]:
    count = len(lines)
    return sorted(set(range(min(EDGE_LINES, count))) | set(range(max(0, count - EDGE_LINES), count)))


def _page_number_offset(pages: list[list[str]]) -> int | None:
    """The constant difference between printed and physical page numbers, when one exists."""
    offsets: Counter[int] = Counter()
    for index, lines in enumerate(pages):
        found = set()
        for position in _edges(lines):
            match = _EDGE_NUMBER.search(lines[position]) if len(lines[position]) < 100 else None
            if match:
                found.add(int(match.group(1) or match.group(2)) - index)
        offsets.update(found)
    if not offsets:
        return None
    offset, support = offsets.most_common(1)[0]
    return offset if support >= max(MIN_BOILERPLATE_PAGES, MIN_BOILERPLATE_FRACTION * len(pages)) else None


def remove_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop running headers/footers and page numbers from the edges of each page's lines."""
    edge_counts: Counter[str] = Counter()
    for lines in pages:
        edge_counts.update({_edge_key(lines[i]) for i in _edges(lines)})
    threshold = max(MIN_BOILERPLATE_PAGES, MIN_BOILERPLATE_FRACTION * len(pages))
    offset = _page_number_offset(pages)
    cleaned = []
    for index, lines in enumerate(pages):
        drop = set()
        for position in _edges(lines):
            line = lines[position]
            match = _EDGE_NUMBER.search(line) if len(line) < 100 else None
            printed = int(match.group(1) or match.group(2)) if match else None
            if (
                _PAGE_NUMBER.match(line)
                or edge_counts[_edge_key(line)] >= threshold
                or (offset is not None and printed == index + offset)
            ):
                drop.add(position)
        cleaned.append([line for position, line in enumerate(lines) if position not in drop])
    return cleaned


def dehyphenate(text: str) -> str:
    """Join words split across line ends, keeping the hyphen of real compounds and clitics.

    The document's own vocabulary decides first: if ``guarda-chuva`` occurs elsewhere with its
    hyphen, the hyphen stays; if ``obrigatório`` occurs whole, the word is joined. Otherwise a
    Portuguese clitic after the break (``dá-\\nse``) or a hyphenating prefix before it
    (``bem-\\nvindo``) keeps the hyphen, and anything else is joined.
    """
    vocabulary = set(re.findall(r"\w+(?:-\w+)*", text.replace(_SOFT_HYPHEN + "\n", "").lower()))

    def join(match: re.Match) -> str:
        left, right = match.group(1), match.group(2)
        whole, hyphenated = (left + right).lower(), f"{left}-{right}".lower()
        if hyphenated in vocabulary and whole not in vocabulary:
            return f"{left}-{right}"
        if whole in vocabulary:
            return left + right
        if right.lower() in _CLITICS or left.lower() in _HYPHEN_PREFIXES:
            return f"{left}-{right}"
        return left + right

    # \b: a match starts only at a word's start, so a 30,000-letter "word" costs one scan, not 30,000.
    text = re.sub(rf"\b(\w+)[{_SOFT_HYPHEN}-]\n(\w+)", join, text)
    return re.sub(rf"\b(\w+){_SOFT_HYPHEN}(\w+)", join, text)


def garbage_reason(text: str) -> tuple[str, str] | None:
    """``(reason, detail)`` when the text layer is unusable, else None."""
    if _PORTUGUESE_MARKS.search(text):
        misread = sorted(set(re.findall(rf"\b\w*[{_GLYPH_CONFUSABLES}]\w*", text)))
        if len(misread) >= 2:
            return "glyph-mapping errors", "words with letters Portuguese never uses: " + ", ".join(
                misread[:10]
            )
    letters = sum(ch.isalnum() for ch in text)
    bad = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\n\t"))
    bad += 5 * text.count("(cid:")
    if bad > MAX_GARBLED_FRACTION * max(letters, 1):
        return "garbled text layer", f"{bad} replacement, control or (cid:) characters for {letters} letters"
    return None


def extract_pdf_text(path: str) -> tuple[list[str], int]:
    """Raw text of every page (PDFium), and the number of pages. Raises PdfiumError on bad files."""
    pdf = pdfium.PdfDocument(path)
    try:
        pages = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            pages.append(textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n"))
            textpage.close()
            page.close()
        return pages, len(pages)
    finally:
        pdf.close()


def clean_pdf_pages(raw_pages: list[str]) -> str:
    """Turn raw page texts into one clean document text."""
    pages = [[line.strip() for line in page.split("\n") if line.strip()] for page in raw_pages]
    pages = remove_running_lines(pages)
    text = "\n".join("\n".join(lines) for lines in pages if lines)
    text = dehyphenate(text.translate(_LIGATURES))
    # Private-use characters are symbol-font bullets and ornaments; they carry no text.
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Co").replace(_SOFT_HYPHEN, "")
    return unicodedata.normalize("NFC", text)


def read_pdf(spec: SourceSpec) -> Iterator[Record]:
    """One record per PDF file: its cleaned text, or a rejection saying why the file is unusable."""
    for path, doc_id in iter_files(spec):
        meta = base_metadata(spec, path)
        if path.stat().st_size == 0:
            yield rejection(doc_id, spec.name, "empty file", meta)
            continue
        try:
            raw_pages, page_count = extract_pdf_text(str(path))
        except pdfium.PdfiumError as error:
            reason = "encrypted PDF" if "password" in str(error).lower() else "corrupt PDF"
            yield rejection(doc_id, spec.name, reason, {**meta, "detail": str(error)})
            continue
        meta["pages"] = page_count
        meta["pages_without_text"] = sum(1 for page in raw_pages if sum(ch.isalnum() for ch in page) == 0)
        letters = sum(ch.isalnum() for page in raw_pages for ch in page)
        if letters < MIN_CHARS_PER_PAGE * max(page_count, 1):
            detail = (
                f"{letters} letters or digits on {page_count} pages (image-only, scanned or nearly empty)"
            )
            yield rejection(doc_id, spec.name, "no text layer", {**meta, "detail": detail})
            continue
        text = clean_pdf_pages(raw_pages)
        garbage = garbage_reason(text)
        if garbage:
            yield rejection(doc_id, spec.name, garbage[0], {**meta, "detail": garbage[1]})
            continue
        yield document(doc_id, text, spec.name, meta)
