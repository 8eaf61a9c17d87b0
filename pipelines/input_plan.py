"""Curation inputs cut into pieces, so that N workers get N shares of even one big file.

Why: one input file used to be one task, so ``--workers 8`` on a single 50 GB JSONL ran on one
core. A piece is a byte range of a plain JSONL file, cut just after a newline (a piece owns the
lines that start inside it), or a line range of a compressed one: gzip, bzip2 and zstd streams
cannot be seeked, so each piece decompresses from the start and skips the lines before its own,
which costs decompression only, cheap next to curation.

Planning reads each file once with bounded memory (blocks, newlines counted, a cut candidate kept
at each block end), so every piece knows the number of its first line: documents keep the same
``input_line``, the pipeline's order key, however the inputs are cut. A damaged archive is cut only
inside the part that was read without error; the last piece of a file runs to its end, so exactly
one piece meets the damage and reports it, as an uncut read does.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.sources.readers import READ_ERRORS, open_binary

COMPRESSED = (".gz", ".bz2", ".zst", ".zstd")
MAX_PIECE_BYTES = 64 << 20  # a task's share: bounds a task's spill files and balances the workers


@dataclass(frozen=True)
class Piece:
    """One input file's share: a byte range (plain) or a line range (compressed) and its first line."""

    path: str
    name: str  # the input's name relative to the inputs' common folder: the documents' input_file
    first_line: int = 1
    start: int = 0  # plain files: the first byte
    end: int | None = None  # plain files: the byte after the piece; None: the end of the file
    last_line: int | None = None  # compressed files: the last line; None: the end of the file
    size: int = 0  # the (uncompressed) bytes the piece covers: progress and balance

    @property
    def compressed(self) -> bool:
        return Path(self.path).suffix.lower() in COMPRESSED

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Piece:
        return cls(**data)


def relative_names(paths: list[Path]) -> dict[Path, str]:
    """Each input's path relative to the inputs' common folder (POSIX form)."""
    resolved = [p.resolve() for p in paths]
    base = Path(os.path.commonpath([p.parent for p in resolved])) if resolved else Path()
    return {p: r.relative_to(base).as_posix() for p, r in zip(paths, resolved, strict=True)}


def plan_pieces(paths: list[Path], target_pieces: int, max_piece_bytes: int = MAX_PIECE_BYTES) -> list[Piece]:
    """The inputs, in name order, cut into pieces of similar size: ``target_pieces`` (the workers),
    or the smallest multiple of it that keeps pieces under ``max_piece_bytes``, so that every worker
    gets as many pieces as every other (3 pieces on 2 workers would leave one idle for a third of the
    phase). Small files stay whole, and every file gives at least one piece (an empty file too, so
    its accounting runs)."""
    names = relative_names([Path(p) for p in paths])
    files = sorted((name, path) for path, name in names.items())
    scans = [_scan(path, target_pieces, max_piece_bytes) for _, path in files]
    total = sum(size for size, _, _ in scans)
    count = _piece_count(total, target_pieces, max_piece_bytes)
    share = max(1.0, total / count)
    pieces = []
    for (name, path), (size, offsets, lines) in zip(files, scans, strict=True):
        cuts = [0]
        for i in range(1, max(1, round(size / share))):
            at = bisect_left(offsets, size * i / round(size / share))
            if at < len(offsets) and cuts[-1] < offsets[at] < size:
                cuts.append(offsets[at])
        line_at = dict(zip(offsets, lines, strict=True)) | {0: 1}
        bounds = [*cuts, size]
        for number, (start, end) in enumerate(itertools.pairwise(bounds)):
            first = line_at[start]
            last = number == len(cuts) - 1
            if Path(path).suffix.lower() in COMPRESSED:
                last_line = None if last else line_at[end] - 1
                pieces.append(Piece(str(path), name, first, last_line=last_line, size=end - start))
            else:
                pieces.append(Piece(str(path), name, first, start, None if last else end, size=end - start))
    return pieces


def _piece_count(size: int, target_pieces: int, max_piece_bytes: int) -> int:
    """The smallest multiple of ``target_pieces`` that cuts ``size`` bytes into pieces under ``max_piece_bytes``."""
    workers = max(1, target_pieces)
    return workers * max(1, math.ceil(size / max(1, max_piece_bytes) / workers))


def _scan(path: Path, target_pieces: int, max_piece_bytes: int) -> tuple[int, list[int], list[int]]:
    """(bytes readable, cut offsets, the line number starting at each cut): one pass, bounded memory.

    A cut candidate is kept at the end of each block, just after its last newline; blocks are small
    enough that each of the file's pieces can be cut within about 1/64 of its size.
    """
    estimate = path.stat().st_size * (4 if path.suffix.lower() in COMPRESSED else 1)
    block = min(16 << 20, max(64 << 10, estimate // (64 * _piece_count(estimate, target_pieces, max_piece_bytes))))
    offsets: list[int] = []
    lines: list[int] = []
    offset, newlines = 0, 0
    try:
        with open_binary(path) as f:
            while data := f.read(block):
                last = data.rfind(b"\n")
                if last >= 0:
                    newlines += data.count(b"\n", 0, last + 1)
                    offsets.append(offset + last + 1)
                    lines.append(newlines + 1)
                    newlines += data.count(b"\n", last + 1)
                offset += len(data)
    except READ_ERRORS:
        pass  # the last piece of the file reads to the damage and reports it
    return offset, offsets, lines
