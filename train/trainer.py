"""The training loop: shards manifest in, checkpoints out, readable top to bottom.

One optimizer step = ``grad_accum`` micro-batches. The loss of a step is the sum of per-token losses
over every kept (unmasked) target of the whole accumulation window divided by their count, as
torchtitan and OLMo-core do: averaging per micro-batch would weight a micro-batch with three answer
tokens like one with three thousand, and a micro-batch with none would divide by zero (NaN).

Precision: fp32 on CPU; bf16 autocast on CUDA with compute capability >= 8.0 (Ampere and newer);
fp16 autocast with a GradScaler on older CUDA cards such as the T4, where bf16 is only emulated.
Weights and optimizer state stay fp32 in every case.

Resume is exact: the checkpoint holds model, optimizer and scaler states, the sampler position, RNG
states and the loss history, and the learning rate is a function of the step, so a run stopped at
step k and resumed produces the same losses as one that never stopped (tested on CPU).
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from garimpo.artifacts import ArtifactError, Manifest, code_version, sha256_file
from model.gpt import GPT, GPTConfig
from train.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_run_json,
)
from train.config import TrainConfig
from train.data import Batch, BatchSampler, TokenStream, eval_batches, open_shards
from train.optim import build_optimizer, lr_at, set_lr

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a call to ``train`` produced."""

    run_dir: Path
    checkpoint_path: Path
    shards_ref: str
    step: int  # optimizer steps done in total (this call and the ones it resumed)
    step0_loss: float  # training loss of the run's first step
    final_train_loss: float
    final_val_loss: float | None  # None when the shards have no val split
    losses: list[float]  # training loss of every step since the run began
    tokens_seen: int


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def pick_precision(device: torch.device, requested: str) -> str:
    """fp32 on CPU; on CUDA bf16 from compute capability 8.0, else fp16 with loss scaling.

    The capability check, not ``torch.cuda.is_bf16_supported()``: the latter can report True on a
    T4 through emulation, which is slow.
    """
    if device.type != "cuda":
        if requested in ("bf16", "fp16"):
            raise ValueError(f"precision {requested!r} needs a CUDA device; this run is on {device}")
        return "fp32"
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.get_device_capability(device) >= (8, 0) else "fp16"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def evaluate(model: GPT, batches: list[Batch], device: torch.device, precision: str) -> float | None:
    """Mean loss over every kept target of the fixed validation windows (None without any)."""
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for batch in batches:
        b = batch.to(device)
        n = int(batch.loss_mask.sum())
        with autocast(device, precision):
            _, loss = model(b.x, b.y, b.loss_mask)
        total += loss.double() * n
        count += n
    return float(total) / count if count else None


def train(
    cfg: TrainConfig,
    shards: str | Path,
    artifacts_root: str | Path = "artifacts",
    run_name: str | None = None,
    resume: bool = True,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Train on a shards version (reference ``shards/<name>[/<version>]`` or folder) and checkpoint.

    The run folder is ``<artifacts_root>/checkpoints/<run_name>`` (default run name:
    ``<shards name>-<model preset>``). With ``resume`` a run folder that has a checkpoint continues
    from it; without, such a folder is an error rather than silently mixed with a new run.
    ``stop_at_step`` ends this call early (with a checkpoint) while the schedule still runs to
    ``cfg.max_steps``, so a long run can be split over several sessions.
    """
    manifest = open_shards(shards, artifacts_root)
    train_stream, val_stream = TokenStream(manifest, "train"), TokenStream(manifest, "val")
    model_cfg = cfg.model_config(manifest.extra["vocab_size"])
    run_name = run_name or f"{manifest.name}-{cfg.model.get('preset', 'tiny')}"
    run_dir = Path(artifacts_root) / "checkpoints" / run_name
    device = pick_device(cfg.device)
    precision = pick_precision(device, cfg.precision)
    seq_len = model_cfg.seq_len

    torch.manual_seed(cfg.seed)
    model = GPT(model_cfg).to(device)
    optimizer = build_optimizer(model, cfg)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    sampler = BatchSampler(train_stream, cfg.batch_size, seq_len, cfg.seed)
    val_set = eval_batches(val_stream, cfg.eval_windows, cfg.batch_size, seq_len)
    lineage: dict[str, Any] = {
        "shards": [manifest.ref],
        "tokenizer_sha256": manifest.extra.get("tokenizer_sha256"),
    }
    history: dict[str, list[list[float]]] = {"train": [], "val": []}  # [step, loss] pairs
    step, tokens_seen = 0, 0

    found = latest_checkpoint(run_dir)
    if found is not None:
        if not resume:
            raise ArtifactError(f"{run_dir} already holds checkpoints; resume it or pick another run_name")
        state = load_checkpoint(found, map_location=device)
        _check_compatible(state, model_cfg, manifest.ref, found)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state["scaler"]:  # empty when saved without loss scaling (fp32/bf16 or another device)
            scaler.load_state_dict(state["scaler"])
        sampler.load_state_dict(state["data"])
        set_rng_state(state["rng"])
        step, tokens_seen, history = state["step"], state["tokens_seen"], state["history"]
        log.info("resumed %s at step %d", found, step)
    else:
        _start_run_dir(run_dir, manifest)

    def checkpoint() -> Path:
        state = {
            "step": step,
            "tokens_seen": tokens_seen,
            "model_config": model_cfg.to_dict(),
            "train_config": cfg.to_dict(),
            "lineage": lineage,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "data": sampler.state_dict(),
            "rng": rng_state(),
            "history": history,
        }
        path = save_checkpoint(run_dir, step, state, cfg.keep_checkpoints)
        write_run_json(
            run_dir,
            {
                "run_name": run_name,
                "code_version": code_version(),
                "device": str(device),
                "precision": precision,
                "params": model.num_params(),
                "step": step,
                "max_steps": cfg.max_steps,
                "tokens_seen": tokens_seen,
                "lineage": lineage,
                "model_config": model_cfg.to_dict(),
                "train_config": cfg.to_dict(),
                "latest": path.name,
                "checkpoints": [p.name for p in list_checkpoints(run_dir)],
                "losses": history,
            },
        )
        return path

    def validate() -> None:
        val = evaluate(model, val_set, device, precision)
        if val is not None and (not history["val"] or history["val"][-1][0] != step):
            history["val"].append([step, val])
            log.info("step %d val loss %.4f", step, val)

    fwd = torch.compile(model) if cfg.compile else model
    end_step = min(cfg.max_steps, stop_at_step) if stop_at_step is not None else cfg.max_steps
    deadline = time.monotonic() + cfg.time_budget_s if cfg.time_budget_s > 0 else math.inf
    saved_step = step if found is not None else -1
    tick, tick_tokens = time.perf_counter(), tokens_seen
    while step < end_step and time.monotonic() < deadline:
        lr = lr_at(step, cfg)
        set_lr(optimizer, lr)
        micro = [sampler.next_batch() for _ in range(cfg.grad_accum)]
        kept = sum(int(b.loss_mask.sum()) for b in micro)
        step_loss = torch.zeros((), device=device)
        for batch in micro:
            b = batch.to(device)
            with autocast(device, precision):
                _, loss = fwd(b.x, b.y, b.loss_mask)
            # mean over this micro-batch's kept targets -> its share of the window's mean
            loss = loss * (int(batch.loss_mask.sum()) / max(kept, 1))
            scaler.scale(loss).backward()
            step_loss += loss.detach()
        scaler.unscale_(optimizer)  # clip (and report) the true gradient norm, not the scaled one
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += cfg.grad_accum * cfg.batch_size * seq_len
        history["train"].append([step, float(step_loss)])
        if step % cfg.log_every == 0 or step == end_step:
            now = time.perf_counter()
            tok_s = (tokens_seen - tick_tokens) / max(now - tick, 1e-9)
            tick, tick_tokens = now, tokens_seen
            log.info(
                "step %d/%d loss %.4f lr %.2e grad_norm %.3f %.0f tok/s",
                step,
                cfg.max_steps,
                history["train"][-1][1],
                lr,
                grad_norm,
                tok_s,
            )
        if cfg.eval_every and step % cfg.eval_every == 0:
            validate()
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            checkpoint()
            saved_step = step
    validate()
    path = checkpoint() if saved_step != step else latest_checkpoint(run_dir)
    losses = [loss for _, loss in history["train"]]
    return TrainResult(
        run_dir=run_dir,
        checkpoint_path=path,
        shards_ref=manifest.ref,
        step=step,
        step0_loss=losses[0] if losses else math.nan,
        final_train_loss=losses[-1] if losses else math.nan,
        final_val_loss=history["val"][-1][1] if history["val"] else None,
        losses=losses,
        tokens_seen=tokens_seen,
    )


def _check_compatible(state: dict[str, Any], model_cfg: GPTConfig, shards_ref: str, path: Path) -> None:
    """Refuse to resume a checkpoint into a different network or onto different shards."""
    saved = GPTConfig.from_dict(state["model_config"])
    if saved != model_cfg:
        raise ArtifactError(f"{path} was trained with {saved}, not {model_cfg}; pick another run_name")
    if state["lineage"]["shards"][-1] != shards_ref:
        raise ArtifactError(
            f"{path} was trained on {state['lineage']['shards'][-1]}, not {shards_ref}; pick another run_name"
        )


def _start_run_dir(run_dir: Path, manifest: Manifest) -> None:
    """Create the run folder with a copy of the shards' tokenizer, checked against its manifest."""
    run_dir.mkdir(parents=True, exist_ok=True)
    name = manifest.extra.get("tokenizer_file")
    if not name:
        log.warning("%s names no tokenizer_file; sampling from this run will need one", manifest.ref)
        return
    src = manifest.path_of(manifest.file(name))
    shutil.copyfile(src, run_dir / "tokenizer.json")
    expected = manifest.extra.get("tokenizer_sha256")
    if expected and sha256_file(run_dir / "tokenizer.json") != expected:
        raise ArtifactError(f"{manifest.ref}: {name} does not match tokenizer_sha256 {expected}")
