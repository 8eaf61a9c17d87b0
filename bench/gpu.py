"""Trainer figures on a CUDA GPU, as one JSON line; ``{"skipped": "no CUDA device"}`` where there is none.

- ``fit``: portulino, fp16, micro-batch 9 under a 15 GB cap (``set_per_process_memory_fraction``, a
  T4's memory): whether the step fits, its peak allocated bytes against the planner's estimate, and
  tokens/s. Checkpointing is what ``activation_checkpointing = "auto"`` picks for 15 GB.
- ``mfu``: ``small`` and ``portulino`` training steps in bf16 (fp16 below compute capability 8.0),
  eager and with ``torch.compile``, MFU against ``train.plan.GPUS``' peak for this GPU.
- ``parity``: the real trainer on ``tiny``, 200 steps on synthetic shards, on the CPU (fp32) and on
  this GPU (fp32 with TF32, and bf16): the per-step losses compared.
- ``resume``: ``python -m garimpo train`` on the GPU (bf16) killed with SIGKILL mid-run and started
  again; its losses against an uninterrupted GPU run.

Each part that fails reports its error in the JSON instead of stopping the others.

    .venv/bin/python -m bench.gpu [--parts fit,mfu,parity,resume] [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from garimpo.core import ArtifactStore
from garimpo.core.formats import DTYPE_NAME, ShardWriter
from model.gpt import GPT, GPTConfig
from train.config import TrainConfig
from train.device import autocast, pick_precision
from train.optim import build_optimizer
from train.plan import estimate, mfu
from train.speed import compiled, enable_tf32, peak_flops, use_checkpointing

REPO = Path(__file__).resolve().parents[1]
T4_BYTES = 15 * 10**9
PARITY_STEPS = 200
RESUME_CONFIG = """
[model]
preset = "tiny"
seq_len = 128
[train]
batch_size = 16
max_steps = 200
lr = 3e-3
warmup_steps = 10
eval_every = 0
eval_prompts = []
checkpoint_every = 10
log_every = 10
device = "cuda"
precision = "auto"
compile = false
"""
TOLERANCE = {"fp32": 0.02, "bf16": 0.05, "resume": 0.02}  # max relative loss difference per step


def time_steps(
    cfg: GPTConfig, micro_batch: int, precision: str, steps: int, *, ckpt: bool, compile_: bool
) -> dict:
    """Training steps as the trainer runs them (autocast, GradScaler for fp16, clipping, AdamW)."""
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = GPT(cfg).to(device)
    model.checkpointing = ckpt
    optimizer = build_optimizer(model, TrainConfig(model={"preset": "tiny"}))
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    fwd = compiled(model, compile_)
    x = torch.randint(0, cfg.vocab_size, (micro_batch, cfg.seq_len), device=device)
    y = torch.roll(x, -1, dims=1)

    def step() -> float:
        with autocast(device, precision):
            _, loss = fwd(x, y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(2):  # warm-up (and compilation)
        step()
    torch.cuda.synchronize()
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        last = step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    tok_s = micro_batch * cfg.seq_len / seconds
    peak = peak_flops(device, precision)
    out = {
        "micro_batch": micro_batch,
        "seq_len": cfg.seq_len,
        "checkpointing": ckpt,
        "compile": compile_,
        "ms_per_step": round(seconds * 1000, 1),
        "tokens_per_s": round(tok_s),
        "warmup_s": round(warmup_s, 1),
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(),
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
        "last_loss": round(last, 4),
    }
    if peak:
        out["mfu"] = round(mfu(tok_s, cfg, model.num_params(), peak), 4)
    return out


def part_fit(steps: int) -> dict:
    cfg = GPTConfig.preset("portulino")
    ckpt = use_checkpointing("auto", cfg, 9, "fp16", "adamw", T4_BYTES)
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, T4_BYTES / total))
    planned = estimate(cfg, 9, "fp16", ckpt)["total"]
    try:
        run = time_steps(cfg, 9, "fp16", steps, ckpt=ckpt, compile_=False)
        out = {"fits": True, **run, "planned_bytes": planned}
        out["planned_over_measured"] = round(planned / run["peak_allocated_bytes"], 3)
    except torch.cuda.OutOfMemoryError as e:
        out = {
            "fits": False,
            "checkpointing": ckpt,
            "planned_bytes": planned,
            "error": str(e).splitlines()[0],
        }
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    return {"cap_bytes": T4_BYTES, **out}


def part_mfu(steps: int) -> dict:
    precision = pick_precision(torch.device("cuda"), "auto")
    out: dict = {"precision": precision}
    for name, micro in (("small", 64), ("portulino", 16)):
        cfg = GPTConfig.preset(name)
        out[name] = {}
        for kind, on in (("eager", False), ("compiled", True)):
            out[name][kind] = time_steps(cfg, micro, precision, steps, ckpt=False, compile_=on)
            torch.cuda.empty_cache()
    return out


def synthetic_shards(root: Path, vocab: int = 512, n_docs: int = 600) -> str:
    """A shards version of Markov-chain documents (learnable, deterministic), written with ShardWriter."""
    rng = np.random.default_rng(0)
    nxt = rng.integers(1, vocab, size=(vocab, 4))  # each token has four likely successors
    eos = 0

    def build(folder: Path) -> dict:
        counts = {}
        for split, n in (("train", n_docs), ("val", n_docs // 10)):
            writer = ShardWriter(folder, split, max_tokens_per_shard=50_000)
            for _ in range(n):
                doc = [int(rng.integers(1, vocab))]
                for _ in range(int(rng.integers(40, 300))):
                    doc.append(int(nxt[doc[-1], rng.integers(0, 4)]))
                writer.add([*doc, eos])
            counts |= writer.close()
        return counts

    extra = {"dtype": DTYPE_NAME, "vocab_size": vocab, "eos_id": eos}
    return ArtifactStore(root).publish("shards", "bench", build, extra=extra).ref


def parity_config(device: str, precision: str) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "model": {"preset": "tiny", "seq_len": 128},
            "batch_size": 16,
            "max_steps": PARITY_STEPS,
            "lr": 3e-3,
            "warmup_steps": 10,
            "eval_every": 0,
            "eval_prompts": [],
            "checkpoint_every": 0,
            "log_every": 50,
            "device": device,
            "precision": precision,
            "compile": False,
        }
    )


def compare(a: list[float], b: list[float], tolerance: float) -> dict:
    rel = [abs(x - y) / max(abs(x), 1e-9) for x, y in zip(a, b, strict=True)]
    return {
        "steps": len(a),
        "first_loss": round(a[0], 4),
        "final_loss": [round(a[-1], 4), round(b[-1], 4)],
        "max_rel_diff": round(max(rel), 5),
        "ok": len(a) == len(b) and max(rel) <= tolerance and all(map(math.isfinite, b)),
    }


def part_parity(root: Path) -> dict:
    from train.trainer import train

    ref = synthetic_shards(root)
    runs = {}
    for name, device, precision in (
        ("cpu", "cpu", "fp32"),
        ("fp32", "cuda", "fp32"),
        ("bf16", "cuda", "bf16"),
    ):
        if precision == "bf16" and pick_precision(torch.device("cuda"), "auto") != "bf16":
            continue
        start = time.perf_counter()
        result = train(parity_config(device, precision), ref, root, run_name=f"parity-{name}")
        runs[name] = (result.losses, round(time.perf_counter() - start, 1))
    cpu = runs.pop("cpu")[0]
    return {
        name: {**compare(cpu, losses, TOLERANCE[name]), "seconds": seconds}
        for name, (losses, seconds) in runs.items()
    }


def part_resume(root: Path) -> dict:
    ref = synthetic_shards(root)
    config = root / "resume.toml"
    config.write_text(RESUME_CONFIG)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def command(run: str) -> list[str]:
        return [sys.executable, "-m", "garimpo", "--artifacts", str(root), "train", "--shards", ref,
                "--config", str(config), "--run-name", run, "--json"]  # fmt: skip

    def finish(run: str) -> list[float]:
        done = subprocess.run(command(run), cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-1500:])
        return json.loads(done.stdout.strip().splitlines()[-1])["losses"]

    plain = finish("whole")
    proc = subprocess.Popen(
        command("killed"), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pointer, killed_at = root / "checkpoints" / "killed" / "latest", None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if pointer.is_file() and int(pointer.read_text().strip()[5:12] or 0) >= 60:
            killed_at = int(pointer.read_text().strip()[5:12])
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    resumed = finish("killed")
    return {"killed_after_checkpoint": killed_at, **compare(plain, resumed, TOLERANCE["resume"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="fit,mfu,parity,resume")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device"}))
        return
    device = torch.device("cuda")
    enable_tf32(device)
    out: dict = {
        "device": torch.cuda.get_device_name(device),
        "capability": ".".join(map(str, torch.cuda.get_device_capability(device))),
        "memory_bytes": torch.cuda.get_device_properties(device).total_memory,
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.parts.split(","):
            start = time.perf_counter()
            try:
                if part == "fit":
                    out[part] = part_fit(args.steps)
                elif part == "mfu":
                    out[part] = part_mfu(args.steps)
                elif part in ("parity", "resume"):
                    root = Path(tmp) / part
                    out[part] = part_parity(root) if part == "parity" else part_resume(root)
                else:
                    out[part] = {"error": f"unknown part {part!r}"}
            except Exception as e:  # one JSON line whatever happens; the error says which part failed
                out[part] = {"error": f"{type(e).__name__}: {str(e)[-1500:]}"}
            if isinstance(out[part], dict):
                out[part]["part_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
