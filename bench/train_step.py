"""Training-step speed of the model presets: forward, backward and AdamW step on random tokens.

Prints one JSON line: per preset the parameter count, tokens per second and milliseconds per step
(after one untimed warm-up step), plus the device and thread count the figures were taken on.

    .venv/bin/python bench/train_step.py [--device cpu] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.gpt import GPT, GPTConfig
from train.config import TrainConfig
from train.optim import build_optimizer
from train.trainer import autocast, pick_device, pick_precision

# (preset, batch, seq_len): shapes small enough for a laptop CPU
SHAPES = [("tiny", 8, 128), ("small", 4, 256)]


def bench(preset: str, batch: int, seq_len: int, steps: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    cfg = GPTConfig.preset(preset, seq_len=seq_len)
    model = GPT(cfg).to(device)
    optimizer = build_optimizer(model, TrainConfig(model={"preset": preset}))
    precision = pick_precision(device, "auto")
    x = torch.randint(0, cfg.vocab_size, (batch, seq_len), device=device)
    y = torch.randint(0, cfg.vocab_size, (batch, seq_len), device=device)

    def step() -> None:
        with autocast(device, precision):
            _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: allocations, kernel selection
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    return {
        "params": model.num_params(),
        "batch": batch,
        "seq_len": seq_len,
        "precision": precision,
        "ms_per_step": round(seconds * 1000, 1),
        "tokens_per_s": round(batch * seq_len / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    device = pick_device(args.device)
    out = {"device": str(device), "threads": torch.get_num_threads()}
    for preset, batch, seq_len in SHAPES:
        out[preset] = bench(preset, batch, seq_len, args.steps, device)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
