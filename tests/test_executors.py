"""A curation stage gives the same output on a local Ray instance as on local worker processes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from pipelines.executors import ExecutorConfig, make_executor
from pipelines.phases import stage_steps
from pipelines.recipe import load_recipe

pytestmark = pytest.mark.slow


def _texts(folder: Path) -> list[tuple[str, str]]:
    rows = []
    for p in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(p, "rt") as f:
            rows += [(d["id"], d["text"]) for d in map(json.loads, f)]
    return sorted(rows)


def test_normalize_stage_same_on_ray_and_local(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'garimpo[cluster]')")
    import ray

    inputs = tmp_path / "in"
    inputs.mkdir()
    docs = [
        {
            "id": f"d{i}",
            "text": f"Informa\u00c3\u00a7\u00c3\u00a3o n\u00famero {i}\u200b  com   espa\u00e7os.",
            "metadata": {},
        }
        for i in range(40)
    ]
    for part in range(4):
        with gzip.open(inputs / f"{part}.jsonl.gz", "wt") as f:
            for d in docs[part::4]:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    recipe = load_recipe()
    outputs = {}
    for kind in ("local", "ray"):
        out = tmp_path / kind
        pipeline = [
            JsonlReader(str(inputs), glob_pattern="*.jsonl.gz"),
            *stage_steps("normalize", recipe),
            JsonlWriter(str(out), output_filename="${rank}.jsonl.gz"),
        ]
        make_executor(
            pipeline,
            tasks=4,
            workers=2,
            logging_dir=tmp_path / f"logs-{kind}",
            config=ExecutorConfig(kind=kind),
        ).run()
        outputs[kind] = _texts(out)
    ray.shutdown()
    assert len(outputs["local"]) == 40
    assert outputs["ray"] == outputs["local"]
    assert all("Ã" not in text and "\u200b" not in text for _, text in outputs["local"])


def test_slurm_needs_a_partition(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from garimpo.cli import main

    with pytest.raises(ValueError, match="needs a partition"):
        make_executor([], tasks=1, workers=1, logging_dir=tmp_path / "logs", config=ExecutorConfig(kind="slurm"))
    corpus = tmp_path / "in.jsonl"
    corpus.write_text('{"id": "a", "text": "Olá."}\n')
    argv = ["--artifacts", str(tmp_path / "art"), "curate", str(corpus), "--executor", "slurm", "--quiet"]
    assert main(argv) == 2
    assert "--executor slurm needs --slurm-partition" in capsys.readouterr().err
    assert not (tmp_path / "art" / "corpus").exists()
