"""Two-process data parallel training on CPU (torchrun, gloo): both processes report the same losses,
and they match a single process that trains on the same global batch (gradients are summed over the
processes, not replaced by one process's). Skipped where the environment cannot start torchrun.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from garimpo.core import ArtifactStore
from tests.test_train_resume_kill import env, run_to_end
from tests.train_shards import corpus, publish_shards, train_tokenizer
from train.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
CONFIG = """
[model]
preset = "tiny"
seq_len = 64
[train]
batch_size = {batch}
grad_accum = 2
max_steps = 6
lr = 3e-3
warmup_steps = 2
eval_every = 3
eval_windows = 4
eval_prompts = []
checkpoint_every = 3
device = "cpu"
"""


def json_objects(text: str) -> list[dict]:
    """Every JSON object in ``text``; the two processes' lines may interleave without a newline."""
    decoder, found, pos = json.JSONDecoder(), [], text.find("{")
    while pos != -1:
        obj, end = decoder.raw_decode(text, pos)
        found.append(obj)
        pos = text.find("{", end)
    return found


def test_two_processes_agree_and_match_one_process(tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.is_file() and shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed")
    texts = corpus(120, seed=3)
    store = ArtifactStore(tmp_path / "artifacts")
    publish_shards(store, "ddp", texts, train_tokenizer(tmp_path / "tokenizer.json", texts))
    for name, batch in (("one.toml", 8), ("two.toml", 4)):
        (tmp_path / name).write_text(CONFIG.format(batch=batch))
    args = ["--artifacts", str(store.root), "train", "--shards", "shards/ddp", "--json"]
    single = run_to_end([sys.executable, "-m", "garimpo", *args, "--config", str(tmp_path / "one.toml")])

    launch = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "garimpo"]
    out = subprocess.run(
        [*launch, *args, "--config", str(tmp_path / "two.toml"), "--run-name", "ddp-2"],
        cwd=REPO, env=env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    if out.returncode != 0 and ("gloo" in out.stderr.lower() or "rendezvous" in out.stderr.lower()):
        pytest.skip(f"torchrun/gloo cannot start here: {out.stderr[-500:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = {r["rank"]: r for r in json_objects(out.stdout)}
    assert sorted(ranks) == [0, 1]
    assert ranks[0]["losses"] == ranks[1]["losses"] and len(ranks[0]["losses"]) == 6
    assert ranks[0]["losses"] == pytest.approx(single["losses"], rel=1e-5)
    state = load_checkpoint(ranks[0]["checkpoint"])
    assert state["step"] == 6 and state["tokens_seen"] == 6 * 2 * 4 * 64 * 2
