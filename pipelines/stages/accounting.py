"""Accounting: where every document went, per stage and end to end, and the checks that counts add up.

Every stage writes the documents it drops through its own exclusion writer (datatrove's convention:
the reason sits in ``metadata["filter_reason"]``); a phase writes the documents it keeps. A stage's
rejects are counted from its files, what it was given from the stage before (the first from the
reader's datatrove stats), and three checks tie them to what really happened: the documents a
stage's steps report dropped (datatrove's per-task stats, merged) must all be in its exclusion
files, a phase's kept files must hold exactly what its last stage kept, and end to end every
document read is kept or rejected. A step that loses a document without writing it anywhere stops
the run with `AccountingError` instead of publishing a corpus that silently shrank. The stats
layout is the one ``docs/formats.md`` gives for ``stats.json``.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.work_files import SUFFIX, read_records

REASON_KEY = "filter_reason"  # datatrove's BaseFilter stores an excluded document's reason here
DEFAULT_REASON = "filtered"  # a filter that returned a bare False
# Stages that remove lines rather than documents, and the metadata counts summed as their `lines_removed`.
# Each count is both a metadata key of the stage's documents and a datatrove stat of its step.
LINE_COUNTS = {"boilerplate": {"template": "template_lines_removed", "site": "site_lines_removed"}}


class AccountingError(RuntimeError):
    """Documents were lost or invented between stages: counts do not add up."""


def iter_records(folder: Path) -> Iterator[dict[str, Any]]:
    """Every JSON record of the ``*.jsonl.gz`` files under a folder (any depth), files in path order."""
    for path in _files(folder):
        yield from read_records(path)


def count_records(folder: Path) -> int:
    """How many records the ``*.jsonl.gz`` files under a folder hold (lines counted, nothing parsed)."""
    total = 0
    for path in _files(folder):
        with gzip.open(path, "rb") as f:
            while block := f.read(1 << 24):
                total += block.count(b"\n")
    return total


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"*{SUFFIX}")) if folder.is_dir() else []


def reject_reason(record: dict[str, Any]) -> str:
    return record.get("metadata", {}).get(REASON_KEY) or DEFAULT_REASON


def reject_reasons(folder: Path) -> Counter[str]:
    """The reasons of the rejects written under ``folder``, counted."""
    return Counter(reject_reason(record) for record in iter_records(folder))


def merged_step_stats(logs_dir: Path) -> list[dict[str, float]]:
    """datatrove's per-task stats of one run (``logs/stats/*.json``), summed per pipeline step.

    Each step's stats become ``{name: total}`` (counters and the totals of metric stats), plus
    ``"seconds"``, the step's time summed over tasks.
    """
    merged: list[Counter[str]] = []
    for path in sorted((logs_dir / "stats").glob("*.json")):
        for number, step in enumerate(json.loads(path.read_text())):
            if number == len(merged):
                merged.append(Counter())
            for key, value in step.get("stats", {}).items():
                merged[number][key] += value["total"] if isinstance(value, dict) else value
            timing = step.get("time_stats")
            merged[number]["seconds"] += timing.get("total", 0.0) if isinstance(timing, dict) else 0.0
    return [dict(step) for step in merged]


def stage_entry(
    stage: str, n_in: int, reasons: Counter[str], steps: list[dict[str, float]]
) -> dict[str, Any]:
    """One stage's entry of stats.json: ``n_in`` given, rejects counted from its exclusion files.

    ``steps`` are the stage's steps' merged datatrove stats: documents they dropped must all be in
    the exclusion files, or the run stops with `AccountingError` (a step lost documents).
    """
    rejected = sum(reasons.values())
    dropped = sum(step.get("dropped", 0) for step in steps)
    if dropped != rejected:
        raise AccountingError(f"stage {stage}: its steps dropped {dropped} documents, {rejected} written as rejects")
    if rejected > n_in:
        raise AccountingError(f"stage {stage}: {rejected} rejects out of {n_in} documents")
    entry: dict[str, Any] = {
        "stage": stage,
        "in": n_in,
        "kept": n_in - rejected,
        "rejected": rejected,
        "reasons": dict(sorted(reasons.items())),
        "seconds": round(sum(step.get("seconds", 0.0) for step in steps), 3),
    }
    if stage in LINE_COUNTS:
        entry["lines_removed"] = {
            name: int(sum(step.get(key, 0) for step in steps)) for name, key in LINE_COUNTS[stage].items()
        }
    return entry


def summarize(stages: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats.json document for a run's stage entries (in order), after checking every invariant."""
    stats = {
        "stages": stages,
        "documents_in": stages[0]["in"] if stages else 0,
        "documents_kept": stages[-1]["kept"] if stages else 0,
        "documents_rejected": sum(s["rejected"] for s in stages),
    }
    problems = invariant_problems(stats)
    if problems:
        raise AccountingError("; ".join(problems))
    return stats


def invariant_problems(stats: dict[str, Any]) -> list[str]:
    """Every broken invariant of a stats.json document (empty when the counts add up)."""
    problems = []
    stages = stats["stages"]
    for s in stages:
        if s["in"] != s["kept"] + s["rejected"]:
            problems.append(f"{s['stage']}: in {s['in']} != kept {s['kept']} + rejected {s['rejected']}")
        if sum(s["reasons"].values()) != s["rejected"]:
            problems.append(
                f"{s['stage']}: reasons add up to {sum(s['reasons'].values())}, not {s['rejected']}"
            )
    for prev, nxt in itertools.pairwise(stages):
        if nxt["in"] != prev["kept"]:
            problems.append(f"{nxt['stage']}: in {nxt['in']} != {prev['stage']} kept {prev['kept']}")
    if stats["documents_in"] != stats["documents_kept"] + stats["documents_rejected"]:
        problems.append(
            f"end to end: in {stats['documents_in']} != kept {stats['documents_kept']}"
            f" + rejected {stats['documents_rejected']}"
        )
    return problems
