"""Boilerplate stage: template lines and per-site repeated lines out of every document, any format.

Why a curation stage and not only the HTML reader: most scrapes arrive already as text (JSONL), and
their template lines ("Postado por Rui Fernandes às 15:24", "Marcadores: ...", menus, signatures)
would otherwise reach training. Two kinds of line go:

1. lines matching the Portuguese template patterns (``pipelines/sources/template_lines.py``), with
   their context rules (related-post lists, comment sections, the title repeated as first line);
2. lines a site repeats on many of its pages: on at least ``min_pages`` pages and ``min_fraction`` of
   that site's pages. The site is ``metadata["site"]``, else the host of ``metadata["url"]``, else the
   document's source.

Runs before language ID, so a Portuguese article inside an English template is judged on its own
words. A site's line counts need all its pages: a curation run counts them as a map-reduce over its
tasks (``pipelines/stages/boilerplate_phases.py``, which reuses the passes below); `BoilerplateRemover`
is the single-process reference that removes the same lines, in one task.

In that task pages never sit in memory: documents stream to a temporary spill file (pass 1),
while each page's distinct (site, line) hashes go into a count-min sketch (``sketch_depth`` x
``sketch_width`` uint32 cells, conservative update: it never undercounts). Pass 2 counts exactly only
the lines the sketch calls frequent (real boilerplate plus a few collisions); pass 3 removes the lines
whose exact count reaches the threshold. Besides the sketch, memory holds a page count per site and
a hash per page (~70 bytes in a Python set; exact copies of a page are counted once: they are dedup's work, and five
copies would otherwise make every line of the page look like the site's).

Accounting: ``metadata["template_lines_removed"]`` and ``["site_lines_removed"]`` on every document
(the stage's stats entry sums them as ``lines_removed``); a document left with no text is rejected as
``boilerplate_only``.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

from pipelines.recipe import BoilerplateSettings
from pipelines.sources.template_lines import line_key, remove_template_lines, site_of
from pipelines.stages.accounting import LINE_COUNTS, REASON_KEY

REJECT_REASON = "boilerplate_only"
TEMPLATE_COUNT, SITE_COUNT = LINE_COUNTS["boilerplate"]["template"], LINE_COUNTS["boilerplate"]["site"]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# (site, its lines' keys) -> which lines are site boilerplate
Removable = Callable[[str, np.ndarray], np.ndarray]


def document_site(doc: Document) -> str:
    """The site a document's lines are counted under: ``site``, else the url's host, else its source."""
    meta = doc.metadata
    site = meta.get("site")
    if isinstance(site, str) and site:
        return site
    url = meta.get("url")
    return site_of(url if isinstance(url, str) else None, str(meta.get("source", "")))


def site_line_keys(site: str, text: str) -> tuple[list[str], np.ndarray]:
    """The document's lines and, per line, the uint64 hash of (site, normalised line)."""
    lines = text.split("\n")
    salt = hashlib.blake2b(site.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    keys = np.frombuffer(b"".join(line_key(line) for line in lines), dtype=np.uint64) ^ np.frombuffer(
        salt, dtype=np.uint64
    )
    return lines, keys


class CountMinSketch:
    """Approximate counts of uint64 keys in ``depth x width`` uint32 cells; never an undercount."""

    def __init__(self, width: int, depth: int) -> None:
        self.width, self.depth = int(width), int(depth)
        self.table = np.zeros((self.depth, self.width), dtype=np.uint32)
        self.salts = np.array([((r + 1) * 0x632BE59BD9B4E019) % (1 << 64) for r in range(self.depth)], dtype=np.uint64)

    def _cells(self, keys: np.ndarray) -> np.ndarray:
        mixed = (keys[None, :] ^ self.salts[:, None]) * _GOLDEN
        mixed ^= mixed >> np.uint64(29)
        return (mixed % np.uint64(self.width)).astype(np.int64)

    def add(self, keys: np.ndarray) -> None:
        """Count each distinct key once (conservative update: raise only the cells at the minimum)."""
        keys = np.unique(keys)
        if not len(keys):
            return
        cells = self._cells(keys)
        rows = np.arange(self.depth)[:, None]
        target = self.table[rows, cells].min(axis=0) + 1
        for r in range(self.depth):
            np.maximum.at(self.table[r], cells[r], target)

    def estimate(self, keys: np.ndarray) -> np.ndarray:
        if not len(keys):
            return np.zeros(0, dtype=np.uint32)
        return self.table[np.arange(self.depth)[:, None], self._cells(keys)].min(axis=0)


def strip_site_lines(doc: Document, removable: Removable | None) -> Document:
    """The site pass: drop the non-blank lines ``removable(site, line keys)`` flags, count them in
    ``site_lines_removed``, and mark a document left with no text as rejected (``boilerplate_only``)."""
    removed = 0
    if removable is not None and doc.text:
        lines, keys = site_line_keys(site := document_site(doc), doc.text)
        drop = removable(site, keys).tolist()
        kept = [line for line, gone in zip(lines, drop, strict=True) if not line.strip() or not gone]
        removed = sum(1 for line in lines if line.strip()) - sum(1 for line in kept if line.strip())
        if removed:
            doc.text = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    doc.metadata[SITE_COUNT] = removed
    if not doc.text.strip():
        doc.metadata[REASON_KEY] = REJECT_REASON
    return doc


def template_pass(doc: Document, settings: BoilerplateSettings) -> Document:
    """The template pass: drop the lines matching the Portuguese template patterns, counted in
    ``template_lines_removed``."""
    removed = 0
    if settings.template_patterns:
        title = doc.metadata.get("title")
        doc.text, removed = remove_template_lines(doc.text, title if isinstance(title, str) else None)
    doc.metadata[TEMPLATE_COUNT] = removed
    return doc


def page_digest(site: str, text: str) -> int:
    """A 64-bit hash of a page's text on its site: exact copies of one page count once."""
    return int.from_bytes(hashlib.blake2b(f"{site}\0{text}".encode("utf-8", "surrogatepass"), digest_size=8).digest())


class BoilerplateRemover(PipelineStep):
    """Removes template and per-site repeated lines; rejects documents left empty."""

    name = "🧹 Boilerplate lines"
    type = "🧹 - FORMAT"

    def __init__(self, settings: BoilerplateSettings | None = None, exclusion_writer=None) -> None:
        super().__init__()
        self.settings = settings or BoilerplateSettings()
        self.exclusion_writer = exclusion_writer

    def _threshold(self, pages: int) -> float:
        return max(self.settings.min_pages, self.settings.min_fraction * pages)

    @staticmethod
    def _first_copy(site: str, text: str, seen: set[int]) -> bool:
        """True the first time a page text is met on a site, so that exact copies of one page (dedup's
        job) do not make its every line look like site boilerplate."""
        digest = page_digest(site, text)
        if digest in seen:
            return False
        seen.add(digest)
        return True

    def clean(self, docs: list[Document]) -> tuple[list[Document], list[Document]]:
        """Split in-memory documents into (kept, rejected), both in input order (tests, benchmarks)."""
        kept, rejected = [], []
        for doc in self._cleaned(iter(docs)):
            (rejected if REASON_KEY in doc.metadata else kept).append(doc)
        return kept, rejected

    def _cleaned(self, data: Iterator[Document]) -> Iterator[Document]:
        s = self.settings
        pages: Counter[str] = Counter()
        sketch = CountMinSketch(s.sketch_width, s.sketch_depth) if s.site_lines else None
        seen: set[int] = set()
        with tempfile.TemporaryFile(prefix="garimpo-boilerplate-") as spill:
            count = 0
            with self.track_time("template lines"):
                for doc in data:
                    doc = template_pass(doc, s)
                    site = document_site(doc)
                    if sketch is not None and doc.text and self._first_copy(site, doc.text, seen):
                        pages[site] += 1
                        sketch.add(site_line_keys(site, doc.text)[1])
                    pickle.dump((doc.text, doc.id, doc.media, doc.metadata), spill, pickle.HIGHEST_PROTOCOL)
                    count += 1
            frequent: Counter[int] = Counter()
            seen.clear()  # pass 2 meets the copies in the same order and skips the same ones
            if sketch is not None:
                with self.track_time("site lines"):
                    spill.seek(0)
                    for _ in range(count):
                        text, _, _, metadata = pickle.load(spill)
                        site = document_site(Document(text="", id="", metadata=metadata))
                        if not text or not self._first_copy(site, text, seen):
                            continue
                        keys = np.unique(site_line_keys(site, text)[1])
                        candidates = keys[sketch.estimate(keys) >= self._threshold(pages[site])]
                        frequent.update(candidates.tolist())
                del sketch
            seen.clear()
            spill.seek(0)
            for _ in range(count):
                text, doc_id, media, metadata = pickle.load(spill)
                doc = Document(text=text, id=doc_id, media=media, metadata=metadata)
                yield self._site_pass(doc, frequent, pages)

    def _site_pass(self, doc: Document, frequent: Counter, pages: Counter) -> Document:
        def removable(site: str, keys: np.ndarray) -> np.ndarray:
            threshold = self._threshold(pages[site])
            return np.array([frequent.get(key, 0) >= threshold for key in keys.tolist()], dtype=bool)

        return strip_site_lines(doc, removable if frequent else None)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        yield from emit_accounted(self, self._cleaned(iter(data or ())), self.exclusion_writer, rank)


def emit_accounted(step: PipelineStep, docs: Iterator[Document], exclusion_writer, rank: int) -> Iterator[Document]:
    """Count each cleaned document in ``step``'s stats (lines removed too), write the rejected ones to
    ``exclusion_writer`` and yield the others."""
    with exclusion_writer if exclusion_writer else contextlib.nullcontext() as writer:
        for doc in docs:
            step.stat_update(StatHints.total)
            step.stat_update(TEMPLATE_COUNT, value=doc.metadata[TEMPLATE_COUNT])
            step.stat_update(SITE_COUNT, value=doc.metadata[SITE_COUNT])
            if REASON_KEY in doc.metadata:
                step.stat_update(StatHints.dropped)
                if writer:
                    writer.write(doc, rank)
            else:
                step.stat_update(StatHints.forwarded)
                yield doc
