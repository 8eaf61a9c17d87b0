"""Web pages and blogs: main-content extraction, Portuguese blog boilerplate, per-site repeated lines.

Why three layers: trafilatura finds the main block of a page (datatrove pins trafilatura < 1.12, so
1.11 it is; measured against resiliparse on the Zyte benchmark, see docs/sources.md), but on
Portuguese blogs the main block still carries the template's own lines ("Postado por", "Marcadores:",
"Tempo de leitura", share/subscribe calls, comment-policy notes, "Leia também" lists). Those are
removed by pattern. What no pattern knows, a site's own repeated lines, is caught by counting lines
across the pages of one site (``SiteLineFilter``), which needs every page of the site first, so
the filter spools records to disk and streams them back.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import trafilatura
import warcio.archiveiterator

from pipelines.sources.readers import (
    READ_ERRORS,
    Record,
    SourceSpec,
    base_metadata,
    document,
    is_rejection,
    iter_files,
    open_binary,
    read_whole_file,
    rejection,
)

# A line this long is prose, never template furniture; patterns only ever drop shorter lines.
MAX_BOILERPLATE_LINE_CHARS = 220

_BOILERPLATE_LINE = re.compile(
    r"""^\W*(?:\d{1,2}/\d{1,2}/\d{2,4}\W*)?(?:
        postado\ por|publicado\ por|escrito\ por|por\ admin\b|
        (?:postado|publicado)\ em\ \d{1,2}(?:[/.-]\d{1,2}[/.-]\d{2,4}|\ de\ \w+\ de\ \d{4})|
        arquivado\ em|
        tempo\ de\ leitura|
        compartilh(?:e|ar)|partilh(?:e|ar)|(?:enviar\ por\ e-?mail|imprimir)\W*$|
        assine\ (?:nossa|o\ nosso|já|agora|a\ newsletter)|inscreva-se|cadastre-se|
        receba\ (?:em\ seu|no\ seu|nossas?|as\ novidades)|siga-nos|curta\ nossa|
        (?:este|nosso)\ site\ (?:usa|utiliza)\ cookies|utilizamos\ cookies|usamos\ cookies|
        aceitar\ (?:todos\ os\ )?cookies|pol[ií]tica\ de\ (?:privacidade|cookies)|newsletter|
        aten[çc][ãa]o:\ coment[áa]rios|
        deixe\ (?:suas?|seus?|um|uma|o\ seu|a\ sua)\ (?:coment|d[úu]vida|opini|resposta|recado|mensagem)|
        obrigad[oa]\ por\ (?:compartilhar|ler)|
        todos\ os\ direitos\ reservados|copyright|©|
        read\ more:|click\ here|subscribe\ to|all\ rights\ reserved|order\ reprints|print\ article
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# Lists of labels ("Tags: a, b, c"; "Tagsa, b" when the template glues them) at any length.
_LABEL_LIST_LINE = re.compile(r"^\W*(?:marcadores|tags?|categorias?)\s*:|^tags(?=\w)", re.IGNORECASE)

# Headings that open a list of links to other posts: the heading and the short lines after it go.
_RELATED_HEADING = re.compile(
    r"^\W*(?:leia\ (?:também|mais)|veja\ (?:também|mais)|posts?\ relacionad[oa]s|"
    r"artigos\ relacionados|not[íi]cias\ relacionadas|mais\ lidas|você\ (?:também\ )?pode\ gostar)\b",
    re.IGNORECASE,
)

# Comment sections start here; from the marker on, the page is other people's comments.
_COMMENTS_START = re.compile(
    r"^\W*(?:\d+\s+coment[áa]rios?|nenhum\ coment[áa]rio|postar\ um\ coment[áa]rio|"
    r"coment[áa]rios?\s*(?:\(\d+\))?\s*:?\s*$|deixe\ uma\ resposta|deixe\ (?:um|seu)\ coment[áa]rio)",
    re.IGNORECASE | re.VERBOSE,
)

# A date stamp glued to the front of the first paragraph by the template
# ("sexta-feira, 22 de outubro de 2010 às 20:13Nesta página ...").
_LEADING_DATE = re.compile(
    r"^(?:(?:segunda|terça|quarta|quinta|sexta)-feira|sábado|domingo),?\s+\d{1,2}\s+de\s+\w+\s+de\s+\d{4}"
    r"(?:\s*(?:às|-)\s*\d{1,2}[:h]\d{2})?\s*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?:;…\"”)]$")


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
    if not result or not result.get("text"):
        return None
    title = result.get("title")
    text = remove_blog_boilerplate(result["text"], title)
    return Page(text=text, title=title, url=url or result.get("url"))


def _same_words(a: str, b: str) -> bool:
    return re.findall(r"\w+", a.lower()) == re.findall(r"\w+", b.lower())


def remove_blog_boilerplate(text: str, title: str | None = None) -> str:
    """Drop template lines (by pattern), related-post lists and comment sections from page text.

    The title repeated as the first line is dropped too: it is kept in metadata, not in the body.
    """
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if line]
    if lines and title and _same_words(lines[0], title.split(" | ")[0].split(" - ")[0]):
        lines = lines[1:]
    kept: list[str] = []
    in_related = False
    for index, line in enumerate(lines):
        short = len(line) <= MAX_BOILERPLATE_LINE_CHARS
        # Only the second half of a page can open its comment section.
        if short and index >= len(lines) // 2 and _COMMENTS_START.match(line):
            break
        if short and _RELATED_HEADING.match(line):
            in_related = True
            continue
        if in_related:
            if len(line) <= 120 and not _SENTENCE_END.search(line):
                continue
            in_related = False
        if (short and _BOILERPLATE_LINE.match(line)) or _LABEL_LIST_LINE.match(line):
            continue
        kept.append(line)
    if kept:
        kept[0] = _LEADING_DATE.sub("", kept[0])
    return "\n".join(line for line in kept if line)


def site_of(url: str | None, fallback: str) -> str:
    """The site a page belongs to: its host without ``www.``, else ``fallback``."""
    host = urlsplit(url).hostname if url else None
    return host.removeprefix("www.") if host else fallback


def _line_key(line: str) -> str:
    # Digits vary between otherwise identical template lines ("12 comentários", dates).
    normalised = re.sub(r"\d+", "0", " ".join(line.lower().split()))
    return hashlib.blake2b(normalised.encode(), digest_size=8).hexdigest()


class SiteLineFilter:
    """Drop lines repeated on many pages of the same site (menus, signatures, template notices).

    A line is dropped from a site's pages when it appears on at least ``min_pages`` pages and at
    least ``min_fraction`` of that site's pages. Records are spooled to a temporary file while
    lines are counted, so memory holds only 8-byte line hashes, never the pages.
    """

    def __init__(self, min_pages: int = 5, min_fraction: float = 0.2) -> None:
        self.min_pages = min_pages
        self.min_fraction = min_fraction

    def __call__(self, records: Iterable[Record]) -> Iterator[Record]:
        """Yield the records with repeated site lines removed; emptied pages become rejections."""
        pages_per_site: Counter[str] = Counter()
        line_pages: Counter[tuple[str, str]] = Counter()
        with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            for record in records:
                spool.write(json.dumps(record, ensure_ascii=False) + "\n")
                if is_rejection(record):
                    continue
                site = record["metadata"]["site"]
                pages_per_site[site] += 1
                for key in {_line_key(line) for line in record["text"].split("\n")}:
                    line_pages[(site, key)] += 1
            spool.seek(0)
            for raw in spool:
                record = json.loads(raw)
                if not is_rejection(record):
                    record = self._clean(record, pages_per_site, line_pages)
                yield record

    def _clean(self, record: Record, pages_per_site: Counter, line_pages: Counter) -> Record:
        site = record["metadata"]["site"]
        threshold = max(self.min_pages, self.min_fraction * pages_per_site[site])
        lines = record["text"].split("\n")
        kept = [line for line in lines if line_pages[(site, _line_key(line))] < threshold]
        if not kept:
            return rejection(record["id"], record["source"], "only site boilerplate", record["metadata"])
        record["metadata"]["site_lines_removed"] = len(lines) - len(kept)
        record["text"] = "\n".join(kept)
        return record


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
    yield from SiteLineFilter()(_html_pages(spec))


def _html_pages(spec: SourceSpec) -> Iterator[Record]:
    for path, doc_id in iter_files(spec):
        html = read_whole_file(spec, path, doc_id, base_metadata(spec, path))
        if isinstance(html, dict):
            yield html
            continue
        yield _page_record(spec, doc_id, html, None, path, fallback_site=path.parent.name)


def read_warc(spec: SourceSpec) -> Iterator[Record]:
    """One record per HTML response in WARC files; the site is the response URL's host."""
    yield from SiteLineFilter()(_warc_pages(spec))


def _warc_pages(spec: SourceSpec) -> Iterator[Record]:
    for path, file_id in iter_files(spec):
        meta = base_metadata(spec, path)
        try:
            with open_binary(path) as packed:
                stream = _ErrorWatch(packed)
                for record in warcio.archiveiterator.ArchiveIterator(io.BufferedReader(stream)):
                    if record.rec_type != "response":
                        continue
                    page = _warc_page(spec, record, file_id, path, meta)
                    yield page
                    if page.get("reason") == "truncated or corrupt file":
                        break
                else:
                    if stream.error is not None:
                        raise stream.error
        except (*READ_ERRORS, warcio.archiveiterator.ArchiveLoadFailed) as error:
            yield rejection(
                f"{file_id}#rest", spec.name, "truncated or corrupt file", {**meta, "detail": str(error)}
            )


def _warc_page(spec: SourceSpec, record, file_id: str, path: Path, meta: dict) -> Record:
    """The record of one WARC response; a response cut short by the end of the file is rejected."""
    content_type = record.http_headers.get_header("Content-Type", "") if record.http_headers else ""
    url = record.rec_headers.get_header("WARC-Target-URI")
    doc_id = f"{file_id}#{record.rec_headers.get_header('WARC-Record-ID', url)}"
    if "html" not in content_type:
        return rejection(doc_id, spec.name, "not HTML", {**meta, "url": url})
    html = record.content_stream().read(spec.max_bytes + 1)
    if len(html) > spec.max_bytes:
        return rejection(doc_id, spec.name, "file too large", {**meta, "url": url})
    missing = record.raw_stream.limit  # bytes its Content-Length promised that the file lacks
    if missing:
        detail = f"record ends {missing} bytes before its Content-Length"
        return rejection(
            doc_id, spec.name, "truncated or corrupt file", {**meta, "url": url, "detail": detail}
        )
    return _page_record(spec, doc_id, html, url, path, fallback_site=file_id)


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
