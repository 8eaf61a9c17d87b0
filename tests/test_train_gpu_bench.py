"""``bench/gpu.py`` without a GPU: it says so in one JSON line and exits 0, and the parts it runs on a
GPU are built from pieces checked here on CPU (its synthetic shards train, its resume config parses,
its comparison flags a divergence), so a first GPU run does not fail on them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench import gpu
from train.config import TrainConfig
from train.trainer import train

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="this machine has a CUDA device: the bench runs for real"
)
def test_without_cuda_the_bench_says_so():
    out = subprocess.run(
        [sys.executable, "-m", "bench.gpu"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-1000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"skipped": "no CUDA device"}


def test_parity_pieces_work_on_cpu(tmp_path):
    ref = gpu.synthetic_shards(tmp_path)
    cfg = gpu.parity_config("cpu", "fp32")
    cfg.max_steps = 12
    losses = train(cfg, ref, tmp_path, run_name="bench-parity").losses
    assert len(losses) == 12 and losses[-1] < losses[0]  # the Markov documents are learnable
    same = gpu.compare(losses, losses, gpu.TOLERANCE["fp32"])
    assert same["ok"] and same["max_rel_diff"] == 0.0
    off = gpu.compare(losses, [x * 1.1 for x in losses], gpu.TOLERANCE["fp32"])
    assert not off["ok"] and off["max_rel_diff"] == pytest.approx(0.1, rel=1e-6)
    config = tmp_path / "resume.toml"
    config.write_text(gpu.RESUME_CONFIG)
    parsed = TrainConfig.from_toml(config)
    assert parsed.device == "cuda" and parsed.checkpoint_every < parsed.max_steps and parsed.compile is False
