"""The evaluation suite: one settings object, one call, one JSON result in the run folder.

``evaluate_model`` runs, on a run folder, a checkpoint or an HF export folder:

* bits per byte on every held-out text set (JSONL files from the settings, sets the caller read,
  and the run's own shards ``val`` split decoded to text), per set;
* each ENEM file as a multiple-choice task (``acc``, ``acc_norm``), and a LAMBADA-style cloze task
  built from each held-out set;
* the contamination check of every item and held-out document against the train split of the
  shards versions the checkpoint names;
* optionally the same ENEM tasks through lm-evaluation-harness on the HF export, next to garimpo's.

The result names the checkpoint, its shards versions and tokenizer, and every eval set's sha256, and
is written as ``eval_<checkpoint>.json`` beside the checkpoint. ``EvalSettings`` is read from a TOML
file through ``garimpo.core.settings`` (shipped: ``garimpo/configs/eval/default.toml``); the trainer
runs it on its last checkpoint when ``TrainConfig.final_eval`` names one.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from garimpo.core import ArtifactError, ArtifactStore
from garimpo.core.fs import write_text_atomic
from garimpo.core.manifest import RUNS
from garimpo.core.settings import config_path, load_settings, to_dict
from train.eval_choice import ChoiceTask, cloze_items, fitting, load_enem, score_choices, score_cloze
from train.eval_contamination import overlap, training_texts
from train.eval_model import EvalModel, load_eval_model
from train.eval_text import TextSet, heldout_bpb, jsonl_set, shards_set

log = logging.getLogger(__name__)
DEFAULT_EVAL = "default"  # the shipped garimpo/configs/eval/default.toml


@dataclass(frozen=True)
class EvalSettings:
    """What to evaluate and how; every default of the suite is written here once."""

    heldout: dict[str, str] = field(default_factory=dict)  # set name -> JSONL file of clean text
    text_field: str = "text"
    val_split: bool = True  # also the run's shards val split, decoded, as the set "val"
    max_tokens: int = 0  # per held-out set; 0 = every document
    batch_size: int = 8
    enem: dict[str, str] = field(default_factory=dict)  # task name -> gpt-4-enem .json/.jsonl file
    max_items: int = 0  # per multiple-choice task; 0 = all
    cloze: bool = True  # a cloze task from each held-out set
    cloze_items: int = 200
    cloze_words: int = 40
    contamination: bool = True
    ngram: int = 13
    threshold: float = 0.5  # an item whose n-grams occur in training at least this much is listed
    harness: bool = False  # also score the ENEM tasks with lm-evaluation-harness (the eval extra)
    device: str = "cpu"

    def replace(self, **changes: Any) -> EvalSettings:
        """A copy with these fields changed; ``None`` values are ignored (unset options pass through)."""
        return EvalSettings(**{**to_dict(self), **{k: v for k, v in changes.items() if v is not None}})


def load_eval_settings(name_or_path: str | Path = DEFAULT_EVAL, **overrides: Any) -> EvalSettings:
    """A shipped eval config by name or a TOML file; ``None`` overrides are ignored."""
    return load_settings(EvalSettings, config_path("eval", name_or_path)).replace(**overrides)


def evaluate_model(
    target: str | Path,
    settings: EvalSettings | str | Path = DEFAULT_EVAL,
    artifacts_root: str | Path | None = None,
    extra_sets: list[TextSet] | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Run the suite on ``target`` and return (and, with ``write``, save) the result."""
    if not isinstance(settings, EvalSettings):
        settings = load_eval_settings(settings)
    started = time.perf_counter()
    device = torch.device(settings.device)
    m = load_eval_model(target, settings.device)
    root = Path(artifacts_root) if artifacts_root is not None else _root_of(m)
    sets = [jsonl_set(n, p, settings.text_field) for n, p in settings.heldout.items()] + list(
        extra_sets or []
    )
    if settings.val_split:
        sets += _val_sets(m, root)
    if not sets and not settings.enem:
        raise ValueError("nothing to evaluate: no held-out set, no val split found and no ENEM file")
    log.info("held-out bits per byte on %d set(s)", len(sets))
    bpb = heldout_bpb(
        m.model,
        m.tokenizer,
        [s for s in sets if s.texts],
        m.seq_len,
        device,
        settings.batch_size,
        settings.max_tokens,
    )
    for s in sets:
        bpb.setdefault(s.name, {"bpb": None, "loss": None, "tokens": 0, "bytes": 0, "note": "no documents"})
    tasks: dict[str, ChoiceTask] = {}
    for name, path in settings.enem.items():
        task = fitting(m, load_enem(name, path))
        task.items = task.items[: settings.max_items or None]
        tasks[name] = task
    scores: dict[str, dict] = {}
    for name, task in tasks.items():
        log.info("multiple choice %s: %d items", name, len(task.items))
        scores[name] = {"type": "multiple_choice", "origin": task.origin, **score_choices(m, task, device)}
    cloze = {}
    if settings.cloze:
        for s in sets:
            items = cloze_items(s.texts, settings.cloze_items, settings.cloze_words)
            cloze[f"cloze_{s.name}"] = items
            scores[f"cloze_{s.name}"] = {"type": "cloze", "origin": s.name, **score_cloze(m, items, device)}
    if settings.harness and tasks:
        _add_harness(m, tasks, scores, settings.device)
    contamination = _contamination(m, root, sets, tasks, cloze, settings) if settings.contamination else {}
    result = {
        "model": m.describe(),
        "tokenizer": str(m.tokenizer.path),
        "sets": {s.name: s.describe() for s in sets},
        "bpb": bpb,
        "tasks": scores,
        "contamination": contamination,
        "settings": to_dict(settings),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if write:
        out = m.out_dir / f"eval_{m.path.stem if m.kind == 'checkpoint' else 'hf'}.json"
        write_text_atomic(out, json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        result["path"] = str(out)
    return result


def _root_of(m: EvalModel) -> Path | None:
    """The artifact root of a checkpoint in ``<root>/checkpoints/<run>/``; None elsewhere."""
    run_dir = m.out_dir
    return run_dir.parents[1] if run_dir.parent.name == RUNS else None


def _val_sets(m: EvalModel, root: Path | None) -> list[TextSet]:
    refs = m.lineage.get("shards", [])
    if root is None or not refs:
        return []
    try:
        return [shards_set("val", ArtifactStore(root).load_ref(refs[-1]), "val")]
    except ArtifactError as e:
        log.warning("no val split: %s", e)
        return []


def _add_harness(m: EvalModel, tasks: dict[str, ChoiceTask], scores: dict[str, dict], device: str) -> None:
    from train.eval_harness import run_harness
    from train.export import export_run

    with tempfile.TemporaryDirectory(prefix="garimpo-harness-") as tmp:
        export = m.path if m.kind == "hf" else export_run(m.path, Path(tmp) / "hf")
        for name, task in tasks.items():
            log.info("lm-evaluation-harness on %s", name)
            h = run_harness(export, task, Path(tmp) / "tasks", device)
            ours = scores[name]["predictions"]
            scores[name]["harness"] = {
                "acc": h["acc"],
                "acc_norm": h["acc_norm"],
                "items": h["items"],
                "lm_eval_version": h["lm_eval_version"],
                "same_predictions": [p["pred"] for p in ours] == [p["pred"] for p in h["predictions"]],
            }


def _contamination(
    m: EvalModel,
    root: Path | None,
    sets: list[TextSet],
    tasks: dict[str, ChoiceTask],
    cloze: dict[str, list],
    settings: EvalSettings,
) -> dict[str, Any]:
    """Per task (and per held-out set): overlap of every item with the run's training documents."""
    if root is None or not m.lineage.get("shards"):
        return {
            "skipped": "the model names no shards version in a known artifact store (pass the artifact root)"
        }
    groups: dict[str, dict[str, str]] = {
        f"heldout_{s.name}": {str(i): t for i, t in enumerate(s.texts)} for s in sets
    }
    groups |= {name: {it.id: it.text() for it in task.items} for name, task in tasks.items()}
    groups |= {
        name: {it.id: it.context + " " + it.choices[0] for it in items} for name, items in cloze.items()
    }
    items = {f"{g}\x00{k}": v for g, d in groups.items() for k, v in d.items()}
    log.info("contamination: %d items against the train split of %s", len(items), m.lineage["shards"])
    try:
        found = overlap(items, training_texts(m.lineage, str(root)), settings.ngram, settings.threshold)
    except ArtifactError as e:
        return {"skipped": str(e)}
    out: dict[str, Any] = {
        "shards": list(m.lineage["shards"]),
        "documents_scanned": found["documents_scanned"],
    }
    for g in groups:
        listed = [
            {**d, "id": d["id"].split("\x00", 1)[1]}
            for d in found["contaminated"]
            if d["id"].startswith(g + "\x00")
        ]
        out[g] = {"items": len(groups[g]), "contaminated": len(listed), "listed": listed[:50]}
    return out


def result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The result as table rows (``garimpo eval`` prints them, the flow publishes them)."""
    rows = []
    contamination = result.get("contamination", {})
    for name, v in result["bpb"].items():
        c = contamination.get(f"heldout_{name}", {})
        rows.append(
            {
                "task": name,
                "metric": "bpb",
                "value": v["bpb"],
                "items": result["sets"][name]["documents"],
                "contaminated": c.get("contaminated"),
            }
        )
    for name, v in result["tasks"].items():
        c = contamination.get(name, {})
        for metric in ("acc", "acc_norm", "mean_logprob"):
            if metric in v:
                rows.append(
                    {
                        "task": name,
                        "metric": metric,
                        "value": v[metric],
                        "items": v["items"],
                        "contaminated": c.get("contaminated"),
                    }
                )
        if "harness" in v:
            for metric in ("acc", "acc_norm"):
                rows.append(
                    {
                        "task": name,
                        "metric": f"lm_eval {metric}",
                        "value": v["harness"][metric],
                        "items": v["harness"]["items"],
                        "contaminated": c.get("contaminated"),
                    }
                )
    return rows
