"""What a run reports while it trains: a JSONL metrics file, a loss-curve PNG, a terminal line, TensorBoard.

``metrics.jsonl`` in the run folder holds one JSON object per event, each with ``step`` and ``kind``:
``train`` (loss, lr factor, grad norm, tokens/s, tokens seen), ``val`` (loss and bits per byte, pooled
and per source) and ``samples`` (greedy continuations of the eval prompts). A resumed run first drops
the lines past its checkpoint's step, which a killed run may have written, so the file always
describes one uninterrupted run. ``loss.png`` is redrawn at each checkpoint with a small PNG writer
in plain Python (zlib), so plotting needs no extra package. TensorBoard event files are written too
when the ``tensorboard`` package is installed, and silently skipped otherwise.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from garimpo.core.fs import atomic_path, write_text_atomic

METRICS = "metrics.jsonl"
PLOT = "loss.png"


class RunLog:
    """Appends metric events of one run; ``resume_step`` trims what a killed run wrote after it."""

    def __init__(self, run_dir: Path, resume_step: int | None) -> None:
        self.path = run_dir / METRICS
        if resume_step is not None and self.path.is_file():
            kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= resume_step]
            write_text_atomic(self.path, "".join(line + "\n" for line in kept))
        elif self.path.is_file():
            self.path.unlink()
        self.file = self.path.open("a", encoding="utf-8")
        self.tb = _tensorboard(run_dir)
        self.started = time.monotonic()

    def write(self, kind: str, step: int, **fields: Any) -> None:
        """One JSON line; a NaN or inf value is written as its name (``"nan"``), which JSON can hold."""
        fields = {
            k: str(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in fields.items()
        }
        self.file.write(json.dumps({"kind": kind, "step": step, **fields}, ensure_ascii=False) + "\n")
        self.file.flush()
        if self.tb is not None:
            for name, value in _flatten(fields, kind):
                self.tb.add_scalar(name, value, step)

    def progress(self, step: int, max_steps: int, loss: float, tok_s: float, steps_per_s: float) -> None:
        """One terminal line: step, loss, throughput and time left at the current pace."""
        eta = (max_steps - step) / steps_per_s if steps_per_s > 0 else math.inf
        left = (
            "?" if math.isinf(eta) else f"{int(eta // 3600)}h{int(eta % 3600 // 60):02d}m{int(eta % 60):02d}s"
        )
        line = f"step {step}/{max_steps}  loss {loss:.4f}  {tok_s:,.0f} tok/s  eta {left}"
        end = "\r" if sys.stderr.isatty() and step < max_steps else "\n"
        print(line, end=end, file=sys.stderr, flush=True)

    def plot(self, history: dict[str, list[list[float]]]) -> None:
        write_loss_png(self.path.parent / PLOT, history["train"], history["val"])

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def _step_of(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf  # a line cut by a kill: dropped


def _flatten(fields: dict, prefix: str) -> list[tuple[str, float]]:
    out = []
    for key, value in fields.items():
        if isinstance(value, dict):
            out += _flatten(value, f"{prefix}/{key}")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append((f"{prefix}/{key}", float(value)))
    return out


def _tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def write_loss_png(path: Path, train: list[list[float]], val: list[list[float]], size=(640, 320)) -> None:
    """Train loss (blue line) and val loss (red dots) against step, on a white canvas with axes."""
    w, h = size
    pixels = bytearray(b"\xff" * (w * h * 3))
    points = [(s, v) for s, v in [*train, *val] if math.isfinite(v)]
    if points:
        margin = 24
        s_max = max(s for s, _ in points) or 1
        lo, hi = min(v for _, v in points), max(v for _, v in points)
        hi = hi if hi > lo else lo + 1

        def xy(step: float, value: float) -> tuple[int, int]:
            x = margin + round((w - 2 * margin) * step / s_max)
            y = h - margin - round((h - 2 * margin) * (value - lo) / (hi - lo))
            return x, y

        def put(x: int, y: int, rgb: tuple[int, int, int]) -> None:
            if 0 <= x < w and 0 <= y < h:
                pixels[(y * w + x) * 3 : (y * w + x) * 3 + 3] = bytes(rgb)

        for x in range(margin, w - margin):
            put(x, h - margin, (0, 0, 0))
        for y in range(margin, h - margin):
            put(margin, y, (0, 0, 0))
        line = [xy(s, v) for s, v in train if math.isfinite(v)]
        for (x0, y0), (x1, y1) in itertools.pairwise(line):
            n = max(abs(x1 - x0), abs(y1 - y0), 1)
            for i in range(n + 1):
                put(x0 + round((x1 - x0) * i / n), y0 + round((y1 - y0) * i / n), (31, 119, 180))
        for s, v in val:
            x, y = xy(s, v)
            for dx in range(-2, 3):
                for dy in range(-2, 3):
                    put(x + dx, y + dy, (214, 39, 40))
    raw = b"".join(b"\x00" + bytes(pixels[r * w * 3 : (r + 1) * w * 3]) for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    with atomic_path(path) as tmp:
        tmp.write_bytes(png)
