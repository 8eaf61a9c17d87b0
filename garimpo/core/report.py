"""Plain-text summaries of what a run did: per-stage accounting, tokens written, loss, artifact paths.

Part of the foundation because it reads the manifest stats layout (``docs/formats.md``) and needs
only the standard library. Used by the CLI and by the Prefect flows (which also publish the same rows
as table artifacts), so the numbers a user reads in a terminal and in the Prefect UI come from one
place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def stage_rows(stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per curation stage: stage, in, kept, rejected, top reasons."""
    rows = []
    for s in stats.get("stages", []):
        reasons = sorted(s.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        rows.append(
            {
                "stage": s["stage"],
                "in": s["in"],
                "kept": s["kept"],
                "rejected": s["rejected"],
                "top reasons": ", ".join(f"{r}={n}" for r, n in reasons[:3]),
            }
        )
    return rows


def format_table(rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None) -> str:
    """A fixed-width text table; numbers right-aligned."""
    if not rows:
        return "(empty)"
    cols = list(columns or rows[0].keys())
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r.get(c), int | float) for r in rows) for c in cols]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(cols), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)
