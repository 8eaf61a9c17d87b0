"""Accounting: where every document went, per stage and end to end, and the checks that counts add up.

Each stage writes its kept documents to ``kept/`` and its dropped ones to ``rejects/`` (datatrove's
exclusion-writer convention: the reason sits in ``metadata["filter_reason"]``). Counts are taken from
those files, not from in-process counters, so a step that lost a document without writing it anywhere
breaks an invariant and the run stops with `AccountingError` instead of publishing a corpus that
silently shrank. The stats layout is the one ``docs/formats.md`` gives for ``stats.json``.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REASON_KEY = "filter_reason"  # datatrove's BaseFilter stores an excluded document's reason here
DEFAULT_REASON = "filtered"  # a filter that returned a bare False
# Stages that remove lines rather than documents, and the metadata counts summed as their `lines_removed`.
LINE_COUNTS = {"boilerplate": {"template": "template_lines_removed", "site": "site_lines_removed"}}


class AccountingError(RuntimeError):
    """Documents were lost or invented between stages: counts do not add up."""


def iter_records(folder: Path) -> Iterator[dict[str, Any]]:
    """Every JSON record of the ``*.jsonl.gz`` files in a folder, files in name order."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)


def reject_reason(record: dict[str, Any]) -> str:
    return record.get("metadata", {}).get(REASON_KEY) or DEFAULT_REASON


def stage_counts(
    stage: str, kept_dir: Path, rejects_dir: Path, n_in: int | None, seconds: float
) -> dict[str, Any]:
    """One stage's entry of stats.json, counted from its output files.

    ``n_in`` is what the stage was given (the previous stage's kept count); None for the read stage,
    whose input is whatever lines it found.
    """
    counted = LINE_COUNTS.get(stage, {})
    lines: Counter[str] = Counter()
    kept = 0
    for record in iter_records(kept_dir):
        kept += 1
        lines.update({name: record["metadata"].get(key, 0) for name, key in counted.items()})
    reasons: Counter[str] = Counter()
    for record in iter_records(rejects_dir):
        reasons[reject_reason(record)] += 1
        lines.update({name: record.get("metadata", {}).get(key, 0) for name, key in counted.items()})
    rejected = sum(reasons.values())
    entry = {
        "stage": stage,
        "in": kept + rejected if n_in is None else n_in,
        "kept": kept,
        "rejected": rejected,
        "reasons": dict(sorted(reasons.items())),
        "seconds": round(seconds, 3),
    }
    if counted:
        entry["lines_removed"] = {name: lines[name] for name in counted}
    if entry["in"] != kept + rejected:
        raise AccountingError(f"stage {stage}: in={entry['in']} but kept={kept} + rejected={rejected}")
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
