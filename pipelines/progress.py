"""Live progress for a curation phase, so a person sees documents flow instead of minutes of silence.

Each datatrove rank runs in its own process (local or Ray), so counts cannot live in shared memory.
`ProgressProbe` is a pass-through step that writes its rank's running totals to a small JSON file;
`watch_phase` polls those files from the main process while `executor.run()` blocks, and draws one
line. A rank re-run after a kill overwrites its own file, so sums never double-count.

On a TTY the line is redrawn in place with ``\\r``; on any other stream only the final line is
written, so logs stay short. ``GARIMPO_PROGRESS=1`` forces progress on, ``0`` forces it off.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

MB = 1_000_000


class ProgressProbe(PipelineStep):
    """Pass documents through unchanged, recording this rank's docs and UTF-8 text bytes."""

    name = "progress probe"
    type = "📈 - PROGRESS"

    def __init__(self, folder: Path | str, every_s: float = 1.0) -> None:
        super().__init__()
        self.folder = str(folder)
        self.every_s = every_s

    def _write(self, rank: int, docs: int, nbytes: int, done: bool) -> None:
        path = Path(self.folder) / f"{rank:05d}.json"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"docs": docs, "bytes": nbytes, "done": done}))
        os.replace(tmp, path)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        docs = nbytes = 0
        self._write(rank, 0, 0, False)
        last = time.monotonic()
        for doc in data or ():
            docs += 1
            nbytes += len(doc.text.encode("utf-8"))
            now = time.monotonic()
            if now - last >= self.every_s:
                self._write(rank, docs, nbytes, False)
                last = now
            yield doc
        self._write(rank, docs, nbytes, True)


def read_totals(folder: Path) -> tuple[int, int]:
    """Sum docs and bytes over every rank file in ``folder``; unreadable files count as zero."""
    docs = nbytes = 0
    for path in Path(folder).glob("*.json"):
        try:
            data = json.loads(path.read_text())
            docs, nbytes = docs + int(data["docs"]), nbytes + int(data["bytes"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return docs, nbytes


def _clock(seconds: float) -> str:
    s = int(max(0.0, seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def fraction(docs: int, nbytes: int, total_docs: int | None, total_bytes: int | None) -> float:
    """Share done from whichever total is known (docs first); NaN when neither is."""
    if total_docs:
        return min(1.0, docs / total_docs)
    if total_bytes:
        return min(1.0, nbytes / total_bytes)
    return math.nan


def render(
    label: str, docs: int, nbytes: int, elapsed: float, total_docs: int | None, total_bytes: int | None
) -> str:
    """One progress line: label, docs (/ total), MB, rates, ETA (only with a total), elapsed."""
    rate_d = docs / elapsed if elapsed > 0 else 0.0
    rate_b = nbytes / MB / elapsed if elapsed > 0 else 0.0
    count = f"{docs:,}/{total_docs:,} docs" if total_docs is not None else f"{docs:,} docs"
    size = (
        f"{nbytes / MB:.1f}/{total_bytes / MB:.1f} MB" if total_bytes is not None else f"{nbytes / MB:.1f} MB"
    )
    parts = [label, count, size, f"{rate_d:,.0f} docs/s", f"{rate_b:.2f} MB/s"]
    share = fraction(docs, nbytes, total_docs, total_bytes)
    if not math.isnan(share) and share > 0:
        parts.append(f"ETA {_clock(elapsed * (1 - share) / share)}")
    parts.append(f"elapsed {_clock(elapsed)}")
    return " | ".join(parts)


def progress_enabled(quiet: bool, stream: TextIO) -> bool:
    """``GARIMPO_PROGRESS`` 1/0 decides when set; otherwise on unless quiet or not a TTY."""
    forced = os.environ.get("GARIMPO_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return not quiet and stream.isatty()


@contextmanager
def watch_phase(
    folder: Path,
    *,
    label: str,
    total_docs: int | None,
    total_bytes: int | None,
    stream: TextIO = sys.stderr,
    enabled: bool,
    on_update: Callable[[float, str], None] | None = None,
    update_every_s: float = 3.0,
) -> Iterator[None]:
    """Draw the phase's progress while the body runs; print a final line on exit when enabled."""
    folder = Path(folder)
    start = time.monotonic()
    stop = threading.Event()
    tty = enabled and stream.isatty()

    def loop() -> None:
        last_update = 0.0
        while not stop.wait(0.5):
            try:
                if tty:
                    docs, nbytes = read_totals(folder)
                    text = render(label, docs, nbytes, time.monotonic() - start, total_docs, total_bytes)
                    stream.write("\r" + text + "\x1b[K")
                    stream.flush()
                if on_update is not None and time.monotonic() - last_update >= update_every_s:
                    last_update = time.monotonic()
                    docs, nbytes = read_totals(folder)
                    text = render(label, docs, nbytes, time.monotonic() - start, total_docs, total_bytes)
                    on_update(fraction(docs, nbytes, total_docs, total_bytes), text)
            except Exception:
                continue

    thread = threading.Thread(target=loop, name=f"progress-{label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            docs, nbytes = read_totals(folder)
            secs = time.monotonic() - start
            if enabled:
                rate = docs / secs if secs > 0 else 0.0
                stream.write(
                    ("\r\x1b[K" if tty else "")
                    + f"{label}: {docs:,} docs, {nbytes / MB:.1f} MB in {secs:.1f}s ({rate:,.0f} docs/s)\n"
                )
                stream.flush()
            if on_update is not None:
                on_update(1.0, render(label, docs, nbytes, secs, total_docs, total_bytes))
        except Exception:
            pass
