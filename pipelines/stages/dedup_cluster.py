"""Dedup phases after the signatures: buckets, clusters, filter, and the merged kept index.

Why a separate module: `dedup_phases` records per rank; this one decides from those records, replaying
`Deduplicator.decide` itself on the involved documents so both paths make one set of decisions.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import shutil
import zlib
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import numpy as np
from datatrove.data import DocumentsPipeline

from pipelines.recipe import DedupSettings
from pipelines.stages import dedup_phases
from pipelines.stages.dedup import DedupIndex, Deduplicator, _Entry, emit_decided
from pipelines.stages.dedup_phases import AGAINST_RANK, block_rows, blocks, read_header
from pipelines.stages.folder_step import FolderStep

# A bucket member and the first member of its bucket (the bucket's name in the cluster phase's graph).
_LINK = np.dtype(
    [("group_rank", "i8"), ("group_pos", "i8"), ("order", "i8"), ("rank", "i8"), ("pos", "i8")]
)
_FLUSH = 65536
_POS_BITS = 40  # a member's key: (rank + 1) << 40 | pos (rank -1 is the earlier versions' rank)


class _DedupStep(FolderStep):
    """A dedup phase's step: the recipe's dedup settings and the folder the phases share."""

    type = "🫂 - DEDUP"
    settings: DedupSettings


class DedupBuckets(_DedupStep):
    """Rank b merges bands b::world_size (rank 0 also the exact keys); writes the members of groups of >= 2,
    each linked to its group's first member."""

    name = "🫂 Dedup buckets"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        names = (
            [f"band_{b:03d}" for b in range(rank, self.settings.bands, world_size)]
            if self.settings.near
            else []
        )
        if rank == 0 and self.settings.exact:
            names.append("exact")
        out_dir = self.folder / "buckets"
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(out_dir / f"{rank:05d}.bin", "wb") as out:
            for name in names:
                files = sorted((self.folder / name).glob("*.npy"))
                group, value, buffer = [], None, []
                for row in heapq.merge(*map(block_rows, files)):
                    if row[0] != value:
                        _link(group, buffer)
                        group, value = [], row[0]
                    group.append(row[1:])
                    if len(buffer) > _FLUSH:
                        np.array(buffer, dtype=_LINK).tofile(out)
                        buffer = []
                _link(group, buffer)
                np.array(buffer, dtype=_LINK).tofile(out)


def _link(group: list[tuple[int, int, int]], buffer: list) -> None:
    """A group of two or more (order, rank, pos) members as links to its first member."""
    if len(group) > 1:
        _, first_rank, first_pos = group[0]
        buffer.extend((first_rank, first_pos, *member) for member in group)


def _key(rank: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return (rank.astype(np.int64) + 1) << _POS_BITS | pos.astype(np.int64)


def components(links: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The documents the links name (keys, sorted) with their order and connected-component label.

    Two documents are connected when they share a bucket; a component label is the smallest key
    index in it. Hook-and-jump label propagation in numpy: a few passes, memory a few arrays of the
    documents involved, never a Python object per document.
    """
    member = _key(links["rank"], links["pos"])
    keys, inverse = np.unique(np.concatenate([member, _key(links["group_rank"], links["group_pos"])]), return_inverse=True)
    a, b = inverse[: len(links)], inverse[len(links) :]
    order = np.zeros(len(keys), dtype=np.int64)
    order[a] = links["order"]  # every group's first member is a member of its own group too
    label = np.arange(len(keys))
    while True:
        low = np.minimum(label[a], label[b])
        hooked = label.copy()
        np.minimum.at(hooked, a, low)
        np.minimum.at(hooked, b, low)
        hooked = hooked[hooked]
        if np.array_equal(hooked, label):
            return keys, order, label
        label = hooked


def _table_name(rank: int) -> str:
    return "against" if rank == AGAINST_RANK else f"{rank:05d}"


class DedupClusters(_DedupStep):
    """One task: the greedy decisions of `Deduplicator.decide`, replayed one connected component at a time.

    A document can only match one it shares a bucket with (an exact key or a band value), so the
    decisions inside a component never depend on another component, and replaying each on its own
    gives the decisions of one replay over all of them. Memory is one component's documents plus a
    few arrays over the involved documents; table rows and texts are read from disk as needed (no
    memory map, whose pages would stay resident).
    """

    name = "🫂 Dedup clusters"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        parts = [np.fromfile(p, dtype=_LINK) for p in sorted((self.folder / "buckets").glob("*.bin"))]
        keys, order, label = components(np.concatenate(parts) if parts else np.zeros(0, _LINK))
        ranks, positions = (keys >> _POS_BITS) - 1, keys & ((1 << _POS_BITS) - 1)
        by_component = np.lexsort((order, label))
        starts = np.flatnonzero(np.diff(label[by_component], prepend=-1))
        per_rank: dict[int, list] = {}
        deduplicator = Deduplicator(self.settings)
        with contextlib.ExitStack() as files:
            row_of, text_of = self._row_reader(files), self._text_reader(ranks, positions, files)
            for members in np.split(by_component, starts[1:]) if len(keys) else []:
                against, entries = DedupIndex(), []
                for position in members.tolist():
                    member_rank, pos = int(ranks[position]), int(positions[position])
                    row = row_of(member_rank, pos)
                    sig = np.array(row["signature"]) if self.settings.near and row["signature"].shape[0] else None
                    if member_rank == AGAINST_RANK:
                        against.add(str(row["id"]), bytes(row["exact"]), sig)
                    else:
                        entries.append(_Entry(int(order[position]), position, str(row["id"]), bytes(row["exact"]), sig))
                deduplicator.against = [against]
                decisions, _ = deduplicator.decide(entries, text_of)
                for position, decision in decisions.items():
                    if decision != 1:
                        per_rank.setdefault(int(ranks[position]), []).append([int(positions[position]), decision])
        out_dir = self.folder / "decisions"
        out_dir.mkdir(parents=True, exist_ok=True)
        for member_rank, rows in per_rank.items():
            (out_dir / f"{member_rank:05d}.json").write_text(json.dumps(sorted(rows, key=lambda r: r[0])))

    def _row_reader(self, files: contextlib.ExitStack):
        """``row_of(rank, pos)``: one row of a rank's signature table, read from its file."""
        opened: dict[int, tuple[BinaryIO, int, np.dtype]] = {}

        def row_of(member_rank: int, pos: int) -> np.void:
            if member_rank not in opened:
                f = files.enter_context(open(self.folder / "tables" / f"{_table_name(member_rank)}.npy", "rb"))  # noqa: SIM115 (closed by the stack)
                _, dtype = read_header(f)
                opened[member_rank] = (f, f.tell(), dtype)
            f, start, dtype = opened[member_rank]
            f.seek(start + pos * dtype.itemsize)
            return np.frombuffer(f.read(dtype.itemsize), dtype=dtype)[0]

        return row_of

    def _text_reader(self, ranks: np.ndarray, positions: np.ndarray, files: contextlib.ExitStack):
        """``text_of(position)`` for the Jaccard check: one open file and offset table per rank."""
        opened: dict[int, tuple[np.ndarray, BinaryIO]] = {}

        def text_of(position: int) -> str:
            member_rank, pos = int(ranks[position]), int(positions[position])
            if member_rank not in opened:
                base = self.folder / "texts" / f"{member_rank:05d}"
                opened[member_rank] = (np.load(f"{base}.npy"), files.enter_context(open(f"{base}.bin", "rb")))  # noqa: SIM115 (closed by the stack)
            offsets, f = opened[member_rank]
            start, end = offsets[pos : pos + 2]
            f.seek(int(start))
            return zlib.decompress(f.read(int(end - start))).decode("utf-8")

        return text_of


def _decisions(folder: Path, rank: int) -> dict[int, tuple[str, str] | int]:
    path = Path(folder) / "decisions" / f"{rank:05d}.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    return {pos: decision if isinstance(decision, int) else tuple(decision) for pos, decision in rows}


class DedupFilter(_DedupStep):
    """Rank r applies its decisions by position: yields kept documents, writes rejects with their reason."""

    name = "🫂 Dedup filter"

    def __init__(self, settings: DedupSettings, folder: Path, exclusion_writer=None) -> None:
        super().__init__(settings, folder)
        self.exclusion_writer = exclusion_writer

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        decisions = _decisions(self.folder, rank)
        decided = ((doc, decisions.get(pos, 1)) for pos, doc in enumerate(data or []))
        yield from emit_decided(self, decided, self.exclusion_writer, rank)


def _sort_kept(folder: Path, path: Path, out: Path) -> tuple[int, int]:
    """One rank's kept rows, sorted by order, written to ``out``: (rows, longest id). One rank in memory."""
    table = np.load(path)
    keep = np.ones(len(table), dtype=bool)
    keep[[p for p, d in _decisions(folder, int(path.stem)).items() if not isinstance(d, int)]] = False
    # A task's documents come from several tasks of the phase before, each in input order: sort them.
    order = np.argsort(table["order"], kind="stable")
    kept = table[order[keep[order]]]
    np.save(out, kept, allow_pickle=False)
    return len(kept), int(np.char.str_len(kept["id"]).max(initial=1))


def _keyed_rows(path: Path, rank: int):
    """A sorted table's rows with their merge key (order, rank, position)."""
    for pos, row in enumerate(chain.from_iterable(blocks(path))):
        yield int(row["order"]), rank, pos, row


def write_dedup_index(settings: DedupSettings, folder: Path, out: Path) -> None:
    """The kept documents' index in global order, the same bytes `DedupIndex.save` writes.

    Each rank's kept rows are sorted into a file of their own (one rank in memory), then the files are
    merged block by block straight into the output: memory does not grow with the corpus.
    """
    folder = Path(folder)
    tables = sorted((folder / "tables").glob("[0-9]*.npy"))
    sorted_dir = folder / "kept-sorted"
    sorted_dir.mkdir(parents=True, exist_ok=True)
    sizes = [_sort_kept(folder, path, sorted_dir / path.name) for path in tables]
    count, id_len = sum(n for n, _ in sizes), max((n for _, n in sizes), default=1)
    width = settings.bands * settings.rows if settings.near and count else 0
    dtype = np.dtype([("id", f"U{id_len}"), ("exact", "S16"), ("signature", "u4", (width,))])
    out.parent.mkdir(parents=True, exist_ok=True)
    streams = [_keyed_rows(sorted_dir / path.name, rank) for rank, path in enumerate(tables)]
    with open(out, "wb") as f:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (count,)}
        np.lib.format.write_array_header_1_0(f, header)  # the header np.save writes for this array
        out_block = np.zeros(dedup_phases.BLOCK_ROWS, dtype=dtype)
        filled = 0
        for _, _, _, row in heapq.merge(*streams, key=lambda r: r[:3]):
            out_block[filled] = (str(row["id"]), bytes(row["exact"]), row["signature"][:width])
            filled += 1
            if filled == len(out_block):
                f.write(out_block.tobytes())
                filled = 0
        f.write(out_block[:filled].tobytes())
    shutil.rmtree(sorted_dir)
