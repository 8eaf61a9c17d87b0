"""The same multiple-choice task through lm-evaluation-harness, on an exported model, offline.

A number that only garimpo's own scorer produces is hard to trust; the harness is what the field
reports. ``write_task`` writes a multiple-choice task for local files: the items as JSONL (the
context starts with ``<|endoftext|>`` in text, which the exported tokenizer reads as the special
token, as garimpo's scorer prepends its id) and a task YAML whose ``dataset_path: json`` reads them
with the ``datasets`` JSON builder, so nothing is downloaded. ``run_harness`` runs
``lm_eval.simple_evaluate`` with the ``hf`` model on an export folder (``garimpo export``) and
returns accuracy, length-normalised accuracy and each item's prediction.

``lm_eval`` (package ``lm-eval``, the ``eval`` extra) is imported only here, inside ``run_harness``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from garimpo.core.formats import EOS_TOKEN
from train.eval_choice import CHOICE_DELIMITER, ChoiceTask

TASK_TEMPLATE = """\
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {items}
  cache_dir: {cache}
test_split: test
output_type: multiple_choice
doc_to_text: query
doc_to_choice: choices
doc_to_target: gold
target_delimiter: "{delimiter}"
num_fewshot: 0
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


def write_task(task: ChoiceTask, folder: str | Path) -> str:
    """Write ``<task>.jsonl`` and ``<task>.yaml`` into ``folder``; returns the harness task name."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    name = "garimpo_" + "".join(c if c.isalnum() else "_" for c in task.name.lower())
    items = folder / f"{name}.jsonl"
    with items.open("w", encoding="utf-8") as f:
        for it in task.items:
            row = {"id": it.id, "query": EOS_TOKEN + it.context, "choices": it.choices, "gold": it.gold}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    yaml = TASK_TEMPLATE.format(
        task=name,
        items=json.dumps(str(items)),
        cache=json.dumps(str(folder / "cache")),
        delimiter=CHOICE_DELIMITER,
    )
    (folder / f"{name}.yaml").write_text(yaml, encoding="utf-8")
    return name


def run_harness(export_dir: str | Path, task: ChoiceTask, work_dir: str | Path, device: str = "cpu") -> dict:
    """``{"acc", "acc_norm", "items", "predictions": [{"id", "pred", "pred_norm", "lls"}]}`` from lm_eval."""
    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[var] = "1"  # local files only: a missing file must fail, not trigger a download
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise ImportError("running lm-evaluation-harness needs 'lm-eval': pip install garimpo[eval]") from e
    name = write_task(task, work_dir)
    export_dir = Path(export_dir).resolve()
    config = json.loads((export_dir / "config.json").read_text())
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args={
            "pretrained": str(export_dir),
            "dtype": "float32",
            "device": device,
            "max_length": int(config["max_position_embeddings"]),
        },
        tasks=[name],
        task_manager=TaskManager(include_path=str(Path(work_dir).resolve())),
        batch_size=1,
        log_samples=True,
    )
    metrics = out["results"][name]
    predictions = []
    for sample in sorted(out["samples"][name], key=lambda s: s["doc_id"]):
        lls = np.array([float(r[0]) for r in sample["filtered_resps"]])
        lengths = np.array([float(len(c)) for c in sample["doc"]["choices"]])
        predictions.append(
            {
                "id": sample["doc"]["id"],
                "pred": int(np.argmax(lls)),
                "pred_norm": int(np.argmax(lls / lengths)),
                "lls": lls.tolist(),
            }
        )
    return {
        "acc": metrics["acc,none"],
        "acc_norm": metrics["acc_norm,none"],
        "items": len(predictions),
        "predictions": predictions,
        "lm_eval_version": lm_eval.__version__,
    }
