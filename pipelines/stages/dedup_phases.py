"""Dedup as distributed phases (signatures -> buckets -> clusters -> filter), deciding exactly as `Deduplicator`.

Why: the single `Deduplicator` task sees every document in one process. Here each upstream rank records
its documents' signatures, buckets merge the ranks' sorted band files, and one cluster task replays the
same greedy `Deduplicator.decide` on only the documents that share a band value or an exact key with
another one (a document sharing nothing is kept with cluster size 1 and can change no other decision,
so leaving it out of the replay changes nothing). Band values and exact keys are hashed to uint64 for
bucketing; a collision only adds a document to the replay, which is harmless.

Memory: signatures hold one rank's records (bands x 24 bytes + signature per document) until the rank
ends; buckets stream a heapq merge (one record per rank) and link each member of a group to its first
member; clusters hold a few numpy arrays over the involved documents and the signatures, ids and exact
hashes of one connected component at a time (table rows and texts read one at a time from disk); the
filter holds one rank's decisions; `write_dedup_index` sorts one rank at a time and merges the sorted files block
by block into the output file (no memory map: read pages of one would stay resident, growing with the corpus).
Global order: ``(file_index[input_file] + 1) << 40 | input_line`` (0 for documents without provenance),
``file_index`` ranking the input files by name; earlier versions (``against``) get negative orders.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from pipelines.recipe import DedupSettings
from pipelines.stages.dedup import MinHasher, exact_key

_RECORD = np.dtype([("value", "u8"), ("order", "i8"), ("rank", "i8"), ("pos", "i8")])
_MIX = np.uint64(0x9E3779B97F4A7C15)
AGAINST_RANK = -1
# Rows read or written at a time where a table is streamed (work files, earlier versions' indexes).
BLOCK_ROWS = 4096


def file_order(names: list[str]) -> dict[str, int]:
    """The ``file_index`` the phases need: input files ranked by name, as the single process orders them."""
    return {name: i for i, name in enumerate(sorted(set(names)))}


def _band_values(signatures: np.ndarray, settings: DedupSettings) -> np.ndarray:
    """(documents, bands) uint64 hashes of each band's rows."""
    rows = signatures.reshape(len(signatures), settings.bands, settings.rows).astype(np.uint64)
    value = np.zeros(rows.shape[:2], dtype=np.uint64)
    for r in range(settings.rows):
        value = value * _MIX + rows[:, :, r]
    return value


def _exact_values(exact: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each 16-byte exact key, as uint64."""
    return np.ascontiguousarray(exact, dtype="S16").view("u8").reshape(-1, 2)[:, 0].copy()


def _write_records(path: Path, values: np.ndarray, order: np.ndarray, rank: int, start: int = 0) -> None:
    records = np.zeros(len(values), dtype=_RECORD)
    records["value"], records["order"], records["rank"], records["pos"] = (
        values,
        order,
        rank,
        np.arange(start, start + len(values)),
    )
    records = records[np.lexsort((records["pos"], records["order"], records["value"]))]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, records, allow_pickle=False)


def _table_dtype(id_len: int, width: int) -> np.dtype:
    return np.dtype([("order", "i8"), ("id", f"U{id_len}"), ("exact", "S16"), ("signature", "u4", (width,))])


def _write_keys(settings: DedupSettings, folder: Path, name: str, rank: int, table: np.ndarray, start: int = 0) -> None:
    """The exact and band records of a table's rows (positions from ``start``), as ``<key>/<name>.npy``."""
    if settings.exact:
        _write_records(folder / "exact" / f"{name}.npy", _exact_values(table["exact"]), table["order"], rank, start)
    if settings.near:
        values = _band_values(table["signature"], settings) if len(table) else np.zeros((0, settings.bands), "u8")
        for band in range(settings.bands):
            _write_records(folder / f"band_{band:03d}" / f"{name}.npy", values[:, band], table["order"], rank, start)


def _write_signatures(settings, folder: Path, name: str, rank: int, order, ids, exact, signatures) -> None:
    width = settings.bands * settings.rows if settings.near else 0
    table = np.zeros(len(ids), dtype=_table_dtype(max(map(len, ids), default=1), width))
    table["order"], table["id"], table["exact"] = np.asarray(order, dtype="i8"), ids, exact
    if width and len(ids):
        table["signature"] = np.stack(signatures)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    np.save(folder / "tables" / f"{name}.npy", table, allow_pickle=False)
    _write_keys(settings, folder, name, rank, table)


class DedupSignatures(PipelineStep):
    """Pass-through: records each document's order, id, exact key, signature and (compressed) text."""

    name = "🫂 Dedup signatures"
    type = "🫂 - DEDUP"

    def __init__(self, settings: DedupSettings, folder: Path, file_index: dict[str, int]) -> None:
        super().__init__()
        self.settings, self.folder, self.file_index = settings, Path(folder), file_index

    def _order(self, metadata: dict) -> int:
        name = metadata.get("input_file")
        if name is None:
            return int(metadata.get("input_line", 0))
        if name not in self.file_index:
            raise ValueError(f"dedup: input file {name!r} is missing from the file index")
        return (self.file_index[name] + 1) << 40 | int(metadata.get("input_line", 0))

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        hasher = MinHasher(self.settings) if self.settings.near else None
        order, ids, exact, signatures, offsets = [], [], [], [], [0]
        texts_dir = self.folder / "texts"
        texts_dir.mkdir(parents=True, exist_ok=True)
        with open(texts_dir / f"{rank:05d}.bin", "wb") as texts:
            for doc in data or []:
                order.append(self._order(doc.metadata))
                ids.append(doc.id)
                exact.append(exact_key(doc.text))
                if hasher:
                    signatures.append(hasher.signature(doc.text))
                if self.settings.min_jaccard:  # level 1: most texts are never read back (only candidates')
                    offsets.append(offsets[-1] + texts.write(zlib.compress(doc.text.encode("utf-8"), 1)))
                yield doc
        np.save(texts_dir / f"{rank:05d}.npy", np.asarray(offsets, dtype="i8"), allow_pickle=False)
        _write_signatures(self.settings, self.folder, f"{rank:05d}", rank, order, ids, exact, signatures)


def blocks(path: Path, rows: int | None = None) -> Iterator[np.ndarray]:
    """A ``.npy`` table, ``rows`` (`BLOCK_ROWS`) at a time. Not a memory map: the pages of one stay
    resident as it is read through, so a merge over every rank's files would grow with the corpus."""
    with open(path, "rb") as f:
        _, dtype = read_header(f)
        while len(block := np.fromfile(f, dtype=dtype, count=rows or BLOCK_ROWS)):
            yield block


def block_rows(path: Path) -> Iterator[tuple[int, ...]]:
    """The rows of a ``.npy`` table of numbers as tuples of its fields, read `blocks` at a time."""
    for block in blocks(path):
        yield from zip(*(block[name].tolist() for name in block.dtype.names), strict=True)


def read_header(f: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """A ``.npy`` file's shape and dtype; ``f`` is left at the first row."""
    fmt = np.lib.format
    shape, _, dtype = (fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0)(f)
    return shape, dtype


def write_against_signatures(settings: DedupSettings, folder: Path, against_index_files: list[Path]) -> None:
    """Earlier versions' indexes as one virtual rank (first in order), so the buckets see them too.

    Streamed ``BLOCK_ROWS`` rows at a time: the rank's table is written block by block and every block
    gives its own sorted band and exact files (the buckets merge however many files a band has), so a
    large earlier version is never held in memory.
    """
    folder = Path(folder)
    headers = []
    for path in against_index_files:
        with open(path, "rb") as f:
            headers.append(read_header(f))
    total = sum(shape[0] for shape, _ in headers)
    width = settings.bands * settings.rows
    if settings.near and any(dtype["signature"].shape != (width,) for _, dtype in headers):
        settings = dataclasses.replace(settings, near=False)  # an index without signatures: exact matches only
    id_len = max((dtype["id"].itemsize // 4 for shape, dtype in headers if shape[0]), default=1)
    dtype = _table_dtype(id_len, width if settings.near else 0)
    (folder / "tables").mkdir(parents=True, exist_ok=True)
    first = -total
    with open(folder / "tables" / "against.npy", "wb") as f:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (total,)}
        np.lib.format.write_array_header_1_0(f, header)  # the header np.save writes for this array
        for n, block in enumerate(b for p in against_index_files for b in blocks(Path(p))):
            table = np.zeros(len(block), dtype=dtype)
            table["order"] = np.arange(first, first + len(block))
            table["id"], table["exact"] = block["id"], block["exact"]
            if settings.near:
                table["signature"] = block["signature"]
            f.write(table.tobytes())
            _write_keys(settings, folder, f"against-{n:05d}", AGAINST_RANK, table, first + total)
            first += len(block)

