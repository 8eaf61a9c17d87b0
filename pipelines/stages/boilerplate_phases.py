"""Boilerplate as distributed phases (lines -> counts -> strip), removing exactly what `BoilerplateRemover` removes.

Why: a site's line counts need all its pages, and the single `BoilerplateRemover` task sees them in one
process: a corpus of one site (a JSONL source without urls is one) ran boilerplate on one core whatever
the worker count, and its set of page hashes grew with the site. Here the counting is a map-reduce on
the same executor as every other phase, like dedup's:

1. `BoilerplateLines`, a pass-through at the end of the phase before the stage, records per rank each
   page's distinct (site, line) keys and its page hash (the text after the template pass), split into
   `partitions` files by key and by site;
2. the ``boilerplate-counts`` phase (one task per partition, no documents) merges the ranks' sorted
   files as a stream and writes the keys found on at least ``min_pages`` distinct pages of their site,
   and every site's number of distinct pages;
3. `BoilerplateStrip`, the ``boilerplate`` stage of the next phase, runs the template pass and drops
   the lines whose key reaches ``max(min_pages, min_fraction x pages of its site)``.

Counts are exact: a key counts the distinct page texts of its site that hold it (exact copies of one
page count once, as in the single task), and a site's pages are its distinct page texts.
`BoilerplateRemover` reaches the same numbers through a count-min sketch, which never undercounts, and
an exact recount of its candidates, so both remove the same lines (`tests/test_boilerplate.py`).
Memory: one rank's records until it ends; the counts stream a heapq merge; the strip step holds the
frequent keys (8 bytes each) and the sites' page counts.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from datatrove.data import Document, DocumentsPipeline

from pipelines.recipe import BoilerplateSettings
from pipelines.stages.boilerplate import (
    document_site,
    emit_accounted,
    page_digest,
    site_line_keys,
    strip_site_lines,
    template_pass,
)
from pipelines.stages.dedup_phases import block_rows
from pipelines.stages.folder_step import FolderStep

_LINE = np.dtype([("key", "u8"), ("page", "u8"), ("site", "u8")])
_PAGE = np.dtype([("site", "u8"), ("page", "u8")])
_FREQUENT = np.dtype([("key", "u8"), ("site", "u8"), ("pages", "i8")])
_SITE = np.dtype([("site", "u8"), ("pages", "i8")])
MAX_PARTITIONS = 32  # count tasks; each merges its partition of every rank's files as a stream


def partitions_for(pieces: int) -> int:
    """How many count tasks (and files per rank) a run of ``pieces`` pieces uses."""
    return max(1, min(pieces, MAX_PARTITIONS))


def _site_hash(site: str) -> int:
    return int.from_bytes(hashlib.blake2b(site.encode("utf-8", "surrogatepass"), digest_size=8).digest())


class _BoilerplateStep(FolderStep):
    """A boilerplate phase's step: the recipe's settings and the folder the phases share."""

    type = "🧹 - FORMAT"
    settings: BoilerplateSettings


class BoilerplateLines(_BoilerplateStep):
    """Pass-through: records every page's distinct line keys and its page hash, ``partitions`` files a rank."""

    name = "🧹 Boilerplate line keys"

    def __init__(self, settings: BoilerplateSettings, folder: Path, partitions: int) -> None:
        super().__init__(settings, folder)
        self.partitions = partitions

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        lines: list[np.ndarray] = []
        pages: list[tuple[int, int]] = []
        for doc in data or []:
            if self.settings.site_lines:
                title = {"title": doc.metadata.get("title")}
                text = template_pass(Document(doc.text, doc.id, metadata=title), self.settings).text
                if text:
                    site = document_site(doc)
                    site_hash, page = _site_hash(site), page_digest(site, text)
                    keys = np.unique(site_line_keys(site, text)[1])
                    record = np.zeros(len(keys), dtype=_LINE)
                    record["key"], record["page"], record["site"] = keys, page, site_hash
                    lines.append(record)
                    pages.append((site_hash, page))
            yield doc
        line_table = np.concatenate(lines) if lines else np.zeros(0, dtype=_LINE)
        page_table = np.array(pages, dtype=_PAGE)
        for part in range(self.partitions):
            self._save("lines", part, rank, line_table[line_table["key"] % np.uint64(self.partitions) == part])
            self._save("pages", part, rank, page_table[page_table["site"] % np.uint64(self.partitions) == part])

    def _save(self, kind: str, part: int, rank: int, table: np.ndarray) -> None:
        folder = self.folder / kind / f"{part:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{rank:05d}.npy", np.sort(table, order=list(table.dtype.names)), allow_pickle=False)


def _merged(folder: Path) -> Iterator[tuple[int, ...]]:
    """Every rank's sorted rows of one partition, merged in order, a block of each file at a time."""
    return heapq.merge(*map(block_rows, sorted(folder.glob("*.npy"))))


def _distinct_counts(rows: Iterator[tuple[int, ...]]) -> Iterator[tuple[int, int, int]]:
    """(group, its first row's last field, distinct second fields) for rows sorted by (group, second)."""
    group = last = extra = None
    count = 0
    for row in rows:
        if row[0] != group:
            if group is not None:
                yield group, extra, count
            group, last, extra, count = row[0], None, row[-1], 0
        if row[1] != last:
            count, last = count + 1, row[1]
    if group is not None:
        yield group, extra, count


class BoilerplateCounts(_BoilerplateStep):
    """Task p: the frequent keys of partition p (on >= ``min_pages`` pages) and its sites' page counts."""

    name = "🧹 Boilerplate counts"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        part = f"{rank:05d}"
        frequent = [
            (key, site, pages)
            for key, site, pages in _distinct_counts(_merged(self.folder / "lines" / part))
            if pages >= self.settings.min_pages
        ]
        sites = [(site, pages) for site, _, pages in _distinct_counts(_merged(self.folder / "pages" / part))]
        for kind, rows, dtype in (("frequent", frequent, _FREQUENT), ("sites", sites, _SITE)):
            (self.folder / kind).mkdir(parents=True, exist_ok=True)
            np.save(self.folder / kind / f"{part}.npy", np.array(rows, dtype=dtype), allow_pickle=False)


class BoilerplateStrip(_BoilerplateStep):
    """The ``boilerplate`` stage of a run: template pass, then the site lines the counts found frequent."""

    name = "🧹 Boilerplate lines"

    def __init__(self, settings: BoilerplateSettings, folder: Path, exclusion_writer=None) -> None:
        super().__init__(settings, folder)
        self.exclusion_writer = exclusion_writer

    def removable_keys(self) -> np.ndarray:
        """The sorted keys whose page count reaches their site's threshold."""
        frequent = _load_all(self.folder / "frequent", _FREQUENT)
        sites = np.sort(_load_all(self.folder / "sites", _SITE), order="site")
        pages = sites["pages"][np.searchsorted(sites["site"], frequent["site"])]  # a frequent key's site has pages
        threshold = np.maximum(self.settings.min_pages, self.settings.min_fraction * pages)
        return np.sort(frequent["key"][frequent["pages"] >= threshold])

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        keys = self.removable_keys() if self.settings.site_lines else np.zeros(0, dtype="u8")

        def removable(site: str, line_keys: np.ndarray) -> np.ndarray:
            at = np.searchsorted(keys, line_keys).clip(max=len(keys) - 1)
            return keys[at] == line_keys

        stripped = (
            strip_site_lines(template_pass(doc, self.settings), removable if len(keys) else None)
            for doc in data or []
        )
        yield from emit_accounted(self, stripped, self.exclusion_writer, rank)


def _load_all(folder: Path, dtype: np.dtype) -> np.ndarray:
    parts = [np.load(p, allow_pickle=False) for p in sorted(folder.glob("*.npy"))]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
