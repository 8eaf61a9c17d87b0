"""The report of a training run: its curves, evaluations and samples on one page a person opens.

Everything comes from the run folder the trainer writes (``run.json`` for the run's facts and lineage,
``metrics.jsonl`` for every logged step, see ``train.runlog``), so a report can be (re)written at any
moment, also while the run trains, and needs neither torch nor the checkpoint files. A line of
``metrics.jsonl`` that a kill cut short is skipped, never fatal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from garimpo.core import ArtifactError
from garimpo.core.html import esc, line_chart, report_path, section, table, write_page
from garimpo.core.manifest import RUN_JSON
from train.runlog import METRICS


def run_report_path(run_dir: Path) -> Path:
    """``<root>/reports/checkpoints/<run>.html`` of the store the run folder is in."""
    run_dir = Path(run_dir)
    return report_path(run_dir.parents[1], f"{run_dir.parent.name}/{run_dir.name}")


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's ``run.json`` and its metric events (unreadable lines skipped)."""
    try:
        info = json.loads((Path(run_dir) / RUN_JSON).read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(f"no training run at {run_dir}: {RUN_JSON} is missing or unreadable ({e})") from e
    events = []
    metrics = Path(run_dir) / METRICS
    for line in metrics.read_text(encoding="utf-8").splitlines() if metrics.is_file() else []:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "kind" in event and "step" in event:
            events.append(event)
    return info, events


def write_run_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the HTML report of a training run (default: ``run_report_path``); returns its path."""
    info, events = read_run(run_dir)
    name = info.get("run_name") or Path(run_dir).name
    return write_page(out or run_report_path(Path(run_dir)), f"checkpoints/{name}", _sections(info, events))


def _series(events: list[dict[str, Any]], kind: str, key: str) -> list[tuple[float, float]]:
    return [
        (float(e["step"]), float(e[key]))
        for e in events
        if e["kind"] == kind and isinstance(e.get(key), int | float)
    ]


def _history(info: dict[str, Any], split: str) -> list[tuple[float, float]]:
    """The loss of every step (train) or evaluation (val) the checkpoint's history holds."""
    pairs = (info.get("losses") or {}).get(split) or []
    return [(float(p[0]), float(p[1])) for p in pairs if isinstance(p, list | tuple) and len(p) == 2]


def _sections(info: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    lineage = info.get("lineage", {})
    summary = table(
        [
            {"fact": "run", "value": info.get("run_name", "")},
            {"fact": "step", "value": f"{info.get('step')} of {info.get('max_steps')}"},
            {"fact": "tokens seen", "value": info.get("tokens_seen", 0)},
            {"fact": "parameters", "value": info.get("params", 0)},
            {"fact": "device / precision", "value": f"{info.get('device')} / {info.get('precision')}"},
            {
                "fact": "best val loss",
                "value": info.get("best_val_loss") if info.get("best_val_loss") else "-",
            },
            {"fact": "latest checkpoint", "value": info.get("latest", "")},
            {"fact": "trained on", "value": " → ".join(lineage.get("shards", []))},
            {"fact": "continued from", "value": lineage.get("continued_from") or "-"},
            {"fact": "code", "value": info.get("code_version", "")},
        ],
        cls="summary",
    )
    curves = '<div class="charts">' + "".join(
        [
            line_chart(
                "loss",
                {
                    "train loss": _history(info, "train") or _series(events, "train", "loss"),
                    "val loss": _history(info, "val") or _series(events, "val", "loss"),
                },
            ),
            line_chart("learning rate (factor of the peak)", {"lr": _series(events, "train", "lr_factor")}),
            line_chart("gradient norm", {"grad norm": _series(events, "train", "grad_norm")}),
            line_chart("tokens per second", {"tok/s": _series(events, "train", "tok_s")}),
        ]
    )
    curves += "</div>"
    return [
        section("Summary", summary, id="summary"),
        section("Curves", curves, id="curves"),
        section("Evaluations", _evals(events), id="evals"),
        section("Samples", _samples(events), id="samples"),
    ]


def _evals(events: list[dict[str, Any]]) -> str:
    rows = []
    for e in events:
        if e["kind"] != "val":
            continue
        row: dict[str, Any] = {"step": e["step"], "val loss": e.get("loss"), "bits per byte": e.get("bpb")}
        for source, v in sorted((e.get("sources") or {}).items()):
            row[f"{source} loss"] = v.get("loss")
            row[f"{source} bpb"] = v.get("bpb")
        rows.append(row)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return table(
        [{c: r.get(c, "") if r.get(c) is not None else "-" for c in columns} for r in rows], cls="evals"
    )


def _samples(events: list[dict[str, Any]]) -> str:
    found = [e for e in events if e["kind"] == "samples" and e.get("samples")]
    if not found:
        return '<p class="muted">no samples were recorded (they need eval prompts and a tokenizer)</p>'
    parts = []
    for e in reversed(found):
        for s in e["samples"]:
            parts.append(
                f'<div class="doc sample"><span class="muted">step {esc(e["step"])}</span> '
                f"<b>{esc(s.get('prompt', ''))}</b>{esc(str(s.get('text', '')).replace(chr(10), '↵' + chr(10)))}</div>"
            )
    return "\n".join(parts)
