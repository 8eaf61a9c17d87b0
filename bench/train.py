"""Trainer figures on this machine's CPU, as one JSON line.

- ``small``: tokens/s and ms/step of a full training step (forward, backward, AdamW) on random
  tokens, after an untimed warm-up step; peak resident memory of the process;
- ``cpu_matmul_flops``: measured fp32 FLOP/s of a large matmul, the practical peak of this CPU;
- ``mfu``: achieved FLOP/s with the PaLM/nanoGPT count ``6N + 12·L·H·Q·T`` per token (N counts the
  tied embedding once: it is the head's matmul) divided by the measured matmul rate;
- ``step0_loss`` against ``ln(vocab)`` (a well-initialized model starts near uniform);
- ``muon_step_ms`` against ``adamw_step_ms``: the optimizer step alone on ``small``;
- ``tiny_overfit_loss``: a tiny model trained 150 steps on one fixed batch (near 0 when the
  model, loss and optimizer work together).

    .venv/bin/python -m bench.train [--steps 3] [--batch 4] [--seq-len 256]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time

import torch

from model.gpt import GPT, GPTConfig
from train.config import TrainConfig
from train.optim import build_optimizer
from train.plan import flops_per_token


def matmul_flops(n: int = 1024, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def optimizer_step_ms(model: GPT, name: str, reps: int = 3) -> float:
    optimizer = build_optimizer(model, TrainConfig(optimizer=name))
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    optimizer.step()  # warm-up: allocates the state
    start = time.perf_counter()
    for _ in range(reps):
        optimizer.step()
    model.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) / reps * 1000


def bench_small(steps: int, batch: int, seq_len: int) -> dict:
    torch.manual_seed(0)
    cfg = GPTConfig.preset("small", seq_len=seq_len)
    model = GPT(cfg)
    optimizer = build_optimizer(model, TrainConfig(model={"preset": "small"}))
    x = torch.randint(0, cfg.vocab_size, (batch, seq_len))
    y = torch.randint(0, cfg.vocab_size, (batch, seq_len))

    def step() -> float:
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    step0 = step()  # also the warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    tok_s = batch * seq_len / seconds
    n = model.num_params()
    return {
        "params": n,
        "batch": batch,
        "seq_len": seq_len,
        "ms_per_step": round(seconds * 1000, 1),
        "tokens_per_s": round(tok_s),
        "achieved_flops": tok_s * flops_per_token(cfg, n),
        "step0_loss": round(step0, 4),
        "ln_vocab": round(math.log(cfg.vocab_size), 4),
        "adamw_step_ms": round(optimizer_step_ms(model, "adamw"), 1),
        "muon_step_ms": round(optimizer_step_ms(model, "muon"), 1),
    }


def tiny_overfit(steps: int = 150) -> float:
    torch.manual_seed(0)
    cfg = GPTConfig.preset("tiny", seq_len=64)
    model = GPT(cfg)
    optimizer = build_optimizer(model, TrainConfig(lr=3e-3, weight_decay=0.0))
    x = torch.randint(0, cfg.vocab_size, (4, 64))
    y = torch.roll(x, -1, dims=1)
    for _ in range(steps):
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    args = parser.parse_args()
    peak = matmul_flops()
    small = bench_small(args.steps, args.batch, args.seq_len)
    out = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "cpu_matmul_flops": round(peak),
        "small": {**small, "achieved_flops": round(small["achieved_flops"])},
        "mfu": round(small["achieved_flops"] / peak, 3),
        "tiny_overfit_loss": round(tiny_overfit(), 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
