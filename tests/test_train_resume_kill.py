"""Exact resume after SIGKILL: a run killed at random moments (one of them while a checkpoint is being
written) and started again each time ends with the same per-step losses, bit for bit, as a run that
was never interrupted. Runs ``python -m garimpo train`` in subprocesses on CPU with one thread each, so both
runs do the same float operations in the same order.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from garimpo.core import ArtifactStore
from tests.train_shards import corpus, publish_shards, train_tokenizer

REPO = Path(__file__).resolve().parents[1]
CONFIG = """
[model]
preset = "tiny"
seq_len = 64
[train]
batch_size = 8
grad_accum = 2
max_steps = 30
lr = 3e-3
warmup_steps = 3
eval_every = 10
eval_windows = 8
eval_prompts = []
checkpoint_every = 1
keep_checkpoints = 2
log_every = 1
device = "cpu"
"""


def command(artifacts: Path, config: Path, run_name: str) -> list[str]:
    return [
        sys.executable, "-m", "garimpo", "--artifacts", str(artifacts), "train",
        "--shards", "shards/kill", "--config", str(config), "--run-name", run_name, "--json",
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def run_to_end(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_for_partial_file(run_dir: Path, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll until a checkpoint (or pointer) is half-written; False if the run ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if run_dir.is_dir() and any(run_dir.glob(".*.tmp")):
            return True
        time.sleep(0.0005)
    return False


def wait_for_step(run_dir: Path, proc: subprocess.Popen, step: int, timeout: float = 120.0) -> bool:
    """Poll until the run's newest checkpoint is at least ``step``; False if the run ended first.

    Kill points are chosen by step, not by wall time, so the test exercises resume however loaded
    the machine is.
    """
    end = time.monotonic() + timeout
    latest = run_dir / "latest"
    while time.monotonic() < end and proc.poll() is None:
        try:
            name = latest.read_text().strip()
        except OSError:
            name = ""
        if name.startswith("step_") and int(name[5:12]) >= step:
            return True
        time.sleep(0.002)
    return False


def test_sigkill_at_random_moments_resumes_exactly(tmp_path):
    texts = corpus(200, seed=5)
    store = ArtifactStore(tmp_path / "artifacts")
    publish_shards(store, "kill", texts, train_tokenizer(tmp_path / "tokenizer.json", texts))
    config = tmp_path / "run.toml"
    config.write_text(CONFIG)

    reference = run_to_end(command(store.root, config, "straight"))
    assert reference["step"] == 30 and len(reference["losses"]) == 30

    rng = random.Random(1234)
    run_dir = store.root / "checkpoints" / "killed"
    cmd = command(store.root, config, "killed")
    kills, partial_left = 0, False
    for attempt in range(5):
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if attempt == 0:
            wait_for_partial_file(run_dir, proc)
        else:
            wait_for_step(run_dir, proc, 6 * attempt + rng.randint(0, 4))  # 6-10, 12-16, 18-22, 24-28
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            partial_left = partial_left or any(run_dir.glob(".*.tmp"))
        else:
            break
    assert kills >= 2, "the run finished before it could be killed; the test did not exercise resume"
    final = run_to_end(cmd)
    assert final["losses"] == reference["losses"]
    assert final["final_val_loss"] == reference["final_val_loss"]
    assert not any(run_dir.glob(".*.tmp"))  # what a kill mid-write left was cleaned up
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["kind"] == "train"] == list(range(1, 31))  # no replayed lines
    print(f"{kills} kills; a kill left a half-written file: {partial_left}")
