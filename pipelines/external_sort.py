"""Sorting more rows than memory holds: sorted runs spilled to disk, merged lazily.

A corpus version is written in input order whatever the number of workers, so its files depend only
on the inputs and the recipe. Sorting every kept document and every reject in one Python list made
curation's memory grow with the corpus (about 4 MB of RSS per MB of input); here the rows are cut
into runs of at most ``run_rows``, each run is sorted and pickled to a temporary file, and
``heapq.merge`` streams them back. Memory holds one run while sorting and one row per run while
merging. At most ``MERGE_WIDTH`` runs are open at once: beyond that, groups of runs are merged into
longer runs first, so a 100 GB corpus does not run out of file handles. The merge is stable (equal
keys keep their input order, and runs are merged in order), so the result is exactly
``sorted(rows, key=key)``.
"""

from __future__ import annotations

import heapq
import itertools
import pickle
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
RUN_ROWS = 10_000
MERGE_WIDTH = 64


def sorted_stream(
    rows: Iterable[T], key: Callable[[T], Any], spill_dir: Path, run_rows: int = RUN_ROWS
) -> Iterator[T]:
    """``rows`` in ``key`` order, holding at most ``run_rows`` of them in memory at once.

    Runs are written under ``spill_dir`` (created; the caller removes it) when the first row is
    asked for, so building the stream costs nothing until it is read.
    """
    spill_dir.mkdir(parents=True, exist_ok=True)
    runs: list[Path] = []
    source = iter(rows)
    while chunk := list(itertools.islice(source, run_rows)):
        chunk.sort(key=key)
        runs.append(_write_run(spill_dir / f"run-{len(runs):06d}.pickle", chunk))
        del chunk
    for level in itertools.count(1):
        if len(runs) <= MERGE_WIDTH:
            break
        merged = []
        for n, i in enumerate(range(0, len(runs), MERGE_WIDTH)):
            group = runs[i : i + MERGE_WIDTH]
            merged.append(_write_run(spill_dir / f"merge-{level}-{n:06d}.pickle", _merge(group, key)))
            for path in group:
                path.unlink()
        runs = merged
    yield from _merge(runs, key)


def _merge(runs: list[Path], key: Callable[[Any], Any]) -> Iterator[Any]:
    return heapq.merge(*(_read_run(path) for path in runs), key=key)


def _write_run(path: Path, rows: Iterable[Any]) -> Path:
    with open(path, "wb") as f:
        for row in rows:
            pickle.dump(row, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: Path) -> Iterator[Any]:
    with open(path, "rb") as f:
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return
