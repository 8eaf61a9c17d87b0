"""Web pages and blogs: main-content extraction with trafilatura 2.x, then the template lines it keeps.

Why two layers: trafilatura finds the main block of a page (2.x: measured against 1.11, resiliparse
and plain trafilatura on the Zyte benchmark, see docs/sources.md), but on Portuguese blogs the main
block still carries the template's own lines ("Postado por", "Marcadores:", "Tempo de leitura",
share/subscribe calls, comment-policy notes, "Leia também" lists); those are removed by pattern
(``pipelines/sources/template_lines.py``). WordPress pages that render other posts as sibling
``<article>`` elements lose them first. What no pattern knows, a site's own repeated lines, is the
``boilerplate`` curation stage's work: it counts lines across all pages of a site, whatever format
they came in, and each page record here carries the ``site`` it needs.

WARC files go through warcio with a record loader that does not crash on a response without
``WARC-Target-URI`` (a counted ``no target URI`` rejection instead).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lxml.html
import trafilatura
import warcio.archiveiterator
import warcio.bufferedreaders
import warcio.recordloader
import warcio.statusandheaders

from pipelines.sources.readers import (
    READ_ERRORS,
    Record,
    SourceSpec,
    base_metadata,
    document,
    iter_files,
    open_binary,
    read_whole_file,
    rejection,
)
from pipelines.sources.template_lines import remove_template_lines, site_of

# What warcio raises on a damaged archive: a bad gzip member, a malformed record or HTTP header block.
WARC_ERRORS = (
    warcio.archiveiterator.ArchiveLoadFailed,
    warcio.statusandheaders.StatusAndHeadersParserException,
    warcio.bufferedreaders.ChunkedDataException,
)


@dataclass(frozen=True)
class Page:
    """Main content of one web page: body text plus the title found by the extractor."""

    text: str
    title: str | None
    url: str | None


def _drop_sibling_posts(tree: lxml.html.HtmlElement) -> None:
    """Remove other posts' teasers from a WordPress single-post page.

    WordPress themes often render "related posts" as further ``<article class="post-N">`` elements
    next to the real one; trafilatura then takes them all as the article. The body class
    ``postid-N`` names the real post, so every other post article goes.
    """
    body = tree.find("body")
    if body is None:
        return
    match = re.search(r"\bpostid-(\d+)\b", body.get("class", ""))
    if not match:
        return
    own = f"post-{match.group(1)}"
    for article in tree.iter("article"):
        marks = f"{article.get('id', '')} {article.get('class', '')}"
        if re.search(r"\bpost-\d+\b", marks) and not re.search(rf"\b{own}\b", marks):
            article.drop_tree()


def extract_page(html: bytes | str, url: str | None = None) -> Page | None:
    """Return the main content of an HTML page, or None when the page has none."""
    # trafilatura's loader guesses the encoding from the bytes; lxml alone would assume Latin-1.
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    _drop_sibling_posts(tree)
    result = trafilatura.bare_extraction(
        tree, url=url, include_comments=False, include_tables=True, with_metadata=True
    )
    if result is None or not result.text:
        return None
    text, _ = remove_template_lines(result.text, result.title)
    return Page(text=text, title=result.title, url=url or result.url)


def _page_record(
    spec: SourceSpec, doc_id: str, html: bytes, url: str | None, path: Path, fallback_site: str
) -> Record:
    meta = base_metadata(spec, path)
    page = extract_page(html, url)
    if page is None or not page.text.strip():
        return rejection(doc_id, spec.name, "no main content", meta)
    meta.update(url=page.url, title=page.title, site=site_of(page.url, fallback_site))
    return document(doc_id, page.text, spec.name, meta)


def read_html(spec: SourceSpec) -> Iterator[Record]:
    """One record per HTML file (``.html``, ``.htm``, optionally ``.gz``/``.zst``/``.bz2``)."""
    for path, doc_id in iter_files(spec):
        html = read_whole_file(spec, path, doc_id, base_metadata(spec, path))
        if isinstance(html, dict):
            yield html
            continue
        yield _page_record(spec, doc_id, html, None, path, fallback_site=path.parent.name)


def read_warc(spec: SourceSpec) -> Iterator[Record]:
    """One record per HTML response in WARC files; the site is the response URL's host.

    A file that yields nothing (empty, only non-response records, or damaged before its first
    response) is one ``no HTML response`` rejection, so every input file is accounted for.
    """
    for path, file_id in iter_files(spec):
        meta = base_metadata(spec, path)
        found = 0
        for page in _warc_file(spec, path, file_id, meta):
            found += 1
            yield page
        if not found:
            yield rejection(file_id, spec.name, "no HTML response", {**meta, "detail": "no response record read"})


def _warc_file(spec: SourceSpec, path: Path, file_id: str, meta: dict) -> Iterator[Record]:
    try:
        with open_binary(path) as packed:
            stream = _ErrorWatch(packed)
            records = warcio.archiveiterator.ArchiveIterator(io.BufferedReader(stream))
            records.loader = _TolerantLoader()
            # warcio's own note prints the whole rest of the record; one line says enough.
            records.INC_RECORD = "warning: WARC record before offset {0} is not followed by a blank line\n"
            for record in records:
                if record.rec_type != "response":
                    continue
                page = _warc_page(spec, record, file_id, path, meta)
                yield page
                if page.get("reason") == "truncated or corrupt file":
                    return
            if stream.error is not None:
                raise stream.error
    except (*READ_ERRORS, *WARC_ERRORS) as error:
        yield rejection(f"{file_id}#rest", spec.name, "truncated or corrupt file", {**meta, "detail": str(error)})


def _warc_page(spec: SourceSpec, record, file_id: str, path: Path, meta: dict) -> Record:
    """The record of one WARC response; a response cut short by the end of the file is rejected."""
    content_type = record.http_headers.get_header("Content-Type", "") if record.http_headers else ""
    url = record.rec_headers.get_header("WARC-Target-URI")
    doc_id = f"{file_id}#{record.rec_headers.get_header('WARC-Record-ID', url)}"
    if not url:
        detail = "a response record without WARC-Target-URI names no page"
        return rejection(doc_id, spec.name, "no target URI", {**meta, "detail": detail})
    if "html" not in content_type:
        return rejection(doc_id, spec.name, "not HTML", {**meta, "url": url})
    html = record.content_stream().read(spec.max_bytes + 1)
    if len(html) > spec.max_bytes:
        return rejection(doc_id, spec.name, "file too large", {**meta, "url": url})
    # Bytes its Content-Length promised that the file lacks (no limit reader: no length was given).
    missing = getattr(record.raw_stream, "limit", 0)
    if missing:
        detail = f"record ends {missing} bytes before its Content-Length"
        return rejection(
            doc_id, spec.name, "truncated or corrupt file", {**meta, "url": url, "detail": detail}
        )
    return _page_record(spec, doc_id, html, url, path, fallback_site=file_id)


class _TolerantLoader(warcio.recordloader.ArcWarcRecordLoader):
    """warcio's record loader, minus its crash on a record without ``WARC-Target-URI`` (it calls
    ``None.startswith``): such a record gets no HTTP headers and `_warc_page` rejects it."""

    def load_http_headers(self, rec_type, uri, stream, length):
        if uri is None:
            return None
        return super().load_http_headers(rec_type, uri, stream, length)


class _ErrorWatch(io.RawIOBase):
    """A readable stream that ends where its source fails (a truncated ``.gz``) and keeps the error.

    Ending instead of raising lets the records before the damage through: a buffered reader drops
    what it already read in a call that raises, and warcio takes a read error for the end anyway.
    """

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self.error: Exception | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.error is not None:
            return 0
        try:
            data = self._raw.read1(len(buffer))
        except READ_ERRORS as error:
            self.error = error
            return 0
        buffer[: len(data)] = data
        return len(data)
