"""Wikipedia XML dumps (``pages-articles.xml.bz2``): articles as plain text, streamed.

Why iterparse with clearing: a Portuguese dump is tens of GB of XML; ``xml.etree.ElementTree.iterparse``
hands over one ``<page>`` at a time and each is cleared after use, so memory stays flat. Wikitext
goes through mwparserfromhell's ``strip_code`` (templates, references, tables and infobox markup
dropped, link labels kept) after the pieces it keeps but a reader should not see (reference tags,
tables, files/categories) are removed. Redirects and pages outside the article namespace are
rejected with their reason, so every page of the dump is accounted for.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import mwparserfromhell

from pipelines.sources.readers import (
    READ_ERRORS,
    Record,
    SourceSpec,
    base_metadata,
    document,
    iter_files,
    open_binary,
    rejection,
)

# Link targets in these namespaces are media or page categories, not prose (pt and en names).
_NON_PROSE_LINK = re.compile(r"^\s*:?\s*(?:arquivo|ficheiro|imagem|file|image|categoria|category)\s*:", re.I)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def wikitext_to_text(wikitext: str) -> str:
    """Plain prose from wikitext: no templates, references, tables, files or categories."""
    code = mwparserfromhell.parse(wikitext)
    for tag in code.filter_tags(recursive=True):
        if str(tag.tag).lower() in ("ref", "table", "gallery", "math", "timeline", "references"):
            try:
                code.remove(tag)
            except ValueError:
                continue  # already removed with its parent
    for link in code.filter_wikilinks(recursive=False):
        if _NON_PROSE_LINK.match(str(link.title)):
            code.remove(link)
    text = code.strip_code(normalize=True, collapse=True)
    text = re.sub(r"^=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.M)  # headings keep their words
    text = re.sub(r"\n{3,}", "\n\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def read_wiki(spec: SourceSpec) -> Iterator[Record]:
    """One record per ``<page>`` of MediaWiki XML dumps (plain, ``.bz2``, ``.gz`` or ``.zst``)."""
    for path, file_id in iter_files(spec):
        meta = base_metadata(spec, path)
        try:
            with open_binary(path) as stream:
                yield from _pages(spec, stream, file_id, meta)
        except (*READ_ERRORS, ET.ParseError) as error:
            yield rejection(
                f"{file_id}#rest", spec.name, "truncated or corrupt file", {**meta, "detail": str(error)}
            )


def _pages(spec: SourceSpec, stream, file_id: str, meta: dict) -> Iterator[Record]:
    for _, element in ET.iterparse(stream, events=("end",)):
        if _local(element.tag) != "page":
            continue
        fields = {_local(child.tag): child for child in element}
        title = (fields["title"].text or "") if "title" in fields else ""
        page_id = (fields["id"].text or title) if "id" in fields else title
        namespace = (fields["ns"].text or "0") if "ns" in fields else "0"
        revision = fields.get("revision")
        text_element = (
            next((c for c in revision if _local(c.tag) == "text"), None) if revision is not None else None
        )
        wikitext = (text_element.text or "") if text_element is not None else ""
        page_meta = {**meta, "title": title, "page_id": page_id}
        doc_id = f"{file_id}#{page_id}"
        element.clear()
        if namespace != "0":
            yield rejection(
                doc_id, spec.name, "not an article namespace", {**page_meta, "namespace": namespace}
            )
        elif "redirect" in fields or re.match(r"\s*#(?:redirect|redirecionamento)", wikitext, re.I):
            yield rejection(doc_id, spec.name, "redirect", page_meta)
        else:
            text = wikitext_to_text(wikitext)
            if not text:
                yield rejection(doc_id, spec.name, "empty document", page_meta)
            else:
                yield document(doc_id, text, spec.name, page_meta)
