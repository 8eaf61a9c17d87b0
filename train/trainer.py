"""The training loop: shards manifest in, checkpoints out, readable top to bottom.

One optimizer step = ``grad_accum`` micro-batches (on each of the ``torchrun`` processes). The loss of
a step is the sum of per-token losses over every kept (unmasked) target of the whole accumulation
window, on every process, divided by their count, as torchtitan and OLMo-core do: averaging per
micro-batch would weight a micro-batch with three answer tokens like one with three thousand, and a
micro-batch with none would divide by zero (NaN).

Precision and devices: see ``train.device``. Weights and optimizer state stay fp32 in every case.
Speed and memory settings (TF32, compile, DDP options, activation checkpointing, MFU): see
``train.speed``; the memory planner behind ``activation_checkpointing = "auto"``: ``train.plan``.
A step whose loss or gradient norm is NaN or inf is skipped and counted, and a run stops after
``nonfinite_limit`` of them in a row (``train.guard``); checkpoints hold finite weights only.

A resumed checkpoint is loaded into CPU memory and dropped once its tensors are copied into the
model and optimizer, so resuming costs no GPU memory for the whole run.

Resume is exact: the checkpoint holds model, optimizer (Muon momentum included) and scaler states,
the sampler position, RNG states, the best validation loss and the loss history, and the learning
rate is a function of the step, so a run killed at any moment and started again produces the same
losses as one that never stopped (tested on CPU with SIGKILL).

Lineage: a checkpoint lists every shards version the weights have seen, in order. Training the same
run on a newer shards version (``allow_new_shards``) or starting a new run from another run's
checkpoint (``continue_from``) appends to that list; both refuse a different tokenizer.
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

from garimpo.core import ArtifactError, Manifest
from garimpo.core.formats import TOKENIZER_FILE, sources
from garimpo.core.fs import remove_partial_files, sha256_file
from garimpo.core.manifest import RUNS, code_version
from model.gpt import GPT
from train import speed
from train.checkpoint import (
    check_compatible,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    rng_state,
    save_best,
    save_checkpoint,
    set_rng_state,
    write_run_json,
)
from train.config import TrainConfig
from train.data import BatchSampler, Prefetcher, TokenStream, open_shards
from train.device import World, all_sum, autocast, barrier, init_world, pick_precision
from train.evaluate import evaluate, greedy_samples, token_byte_table, val_sets
from train.guard import NonFiniteGuard, check_finite_weights
from train.optim import build_optimizer, load_optimizer_state, lr_factor, set_lr
from train.plan import mfu
from train.runlog import RunLog
from train.tokenizer import Tokenizer

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
    skipped_steps: int  # steps skipped for a non-finite loss or gradient norm (fp16 scaler skips too)
    tokens_seen: int
    val: dict | None  # the last evaluation: pooled and per-source loss and bits per byte
    best_val_loss: float | None
    lineage: dict
    model_config: dict  # the network trained (GPTConfig.to_dict)


def train(
    cfg: TrainConfig,
    shards: str | Path,
    artifacts_root: str | Path = "artifacts",
    run_name: str | None = None,
    resume: bool = True,
    stop_at_step: int | None = None,
    allow_new_shards: bool = False,
    continue_from: str | Path | None = None,
) -> TrainResult:
    """Train on a shards version (reference ``shards/<name>[/<version>]`` or folder) and checkpoint.

    The run folder is ``<artifacts_root>/checkpoints/<run_name>`` (default run name:
    ``<shards name>-<model preset>``). With ``resume`` a run folder that has a checkpoint continues
    from it; without, such a folder is an error rather than silently mixed with a new run.
    ``stop_at_step`` ends this call early (with a checkpoint) while the schedule still runs to
    ``cfg.max_steps``, so a long run can be split over several sessions.

    A run resumes only on the shards version it trained on, unless ``allow_new_shards``: then the
    weights, optimizer and step carry over and the data starts at the beginning of the new version.
    ``continue_from`` (a run folder or checkpoint file) starts a new run from those weights (and
    optimizer state, when the optimizer is the same) at step 0 with this config's schedule; once
    that run has a checkpoint, calling again resumes it.
    """
    world, device = init_world(cfg.device)
    manifest = open_shards(shards, artifacts_root)
    model_cfg = cfg.model_config(manifest.extra["vocab_size"])
    run_name = run_name or f"{manifest.name}-{cfg.model.get('preset', 'tiny')}"
    run_dir = Path(artifacts_root) / RUNS / run_name
    precision = pick_precision(device, cfg.precision)
    seq_len = model_cfg.seq_len

    speed.enable_tf32(device)
    torch.manual_seed(cfg.seed)
    model = GPT(model_cfg).to(device)
    memory = speed.device_memory(device)
    model.checkpointing = speed.use_checkpointing(
        cfg.activation_checkpointing, model_cfg, cfg.batch_size, precision, cfg.optimizer, memory
    )
    optimizer = build_optimizer(model, cfg)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    streams, weights = _train_streams(manifest, cfg.mix)
    sampler = BatchSampler(streams, weights, cfg.batch_size, seq_len, cfg.seed)
    lineage: dict[str, Any] = {
        "shards": [manifest.ref],
        "tokenizer_sha256": manifest.extra.get("tokenizer_sha256"),
    }
    history: dict[str, list[list[float]]] = {"train": [], "val": []}  # [step, loss] pairs
    step, tokens_seen, best_val, last_val, skipped = 0, 0, math.inf, None, 0

    found = latest_checkpoint(run_dir)
    if found is not None:
        if not resume:
            raise ArtifactError(f"{run_dir} already holds checkpoints; resume it or pick another run_name")
        state = load_checkpoint(found)  # CPU memory: the tensors are copied, then the dict is dropped
        check_compatible(state, model_cfg, manifest, found, allow_new_shards)
        model.load_state_dict(state["model"])
        load_optimizer_state(optimizer, state["optimizer"], model, cfg)
        if state["scaler"]:  # empty when saved without loss scaling (fp32/bf16 or another device)
            scaler.load_state_dict(state["scaler"])
        lineage = state["lineage"]
        if lineage["shards"][-1] == manifest.ref:
            sampler.load_state_dict(state["data"])
            set_rng_state(state["rng"])
        else:  # a newer shards version: its data starts from its beginning
            lineage = {**lineage, "shards": [*lineage["shards"], manifest.ref]}
        step, tokens_seen, history = state["step"], state["tokens_seen"], state["history"]
        best_val, last_val, skipped = state["best_val"], state["last_val"], state.get("skipped_steps", 0)
        del state
        log.info("resumed %s at step %d", found, step)
    elif continue_from is not None:
        parent = load_checkpoint(continue_from)
        check_compatible(parent, model_cfg, manifest, Path(continue_from), allow_new_shards=True)
        model.load_state_dict(parent["model"])
        if parent["train_config"]["optimizer"] == cfg.optimizer:
            load_optimizer_state(optimizer, parent["optimizer"], model, cfg)
        lineage = {
            **parent["lineage"],
            "shards": [*parent["lineage"]["shards"], manifest.ref],
            "continued_from": str(continue_from),
        }
        del parent
    if world.main:
        _start_run_dir(run_dir, manifest)
        remove_partial_files(run_dir)
    runlog = RunLog(run_dir, step if found is not None else None) if world.main else None
    val_set = val_sets(manifest, cfg.eval_windows, cfg.batch_size, seq_len) if world.main else {}
    has_tokenizer = world.main and (run_dir / TOKENIZER_FILE).is_file()
    tokenizer = Tokenizer(run_dir / TOKENIZER_FILE) if has_tokenizer else None
    token_bytes = token_byte_table(tokenizer, model_cfg.vocab_size) if tokenizer else None
    mix_info = {n: {"weight": weights.get(n, 0.0), "train_tokens": s.n_tokens} for n, s in streams.items()}

    def snapshot() -> dict[str, Any]:
        return {
            "step": step,
            "tokens_seen": tokens_seen,
            "model_config": model_cfg.to_dict(),
            "train_config": cfg.to_dict(),
            "lineage": lineage,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "data": prefetcher.state_dict(),
            "rng": rng_state(),
            "history": history,
            "best_val": best_val,
            "last_val": last_val,
            "skipped_steps": guard.skipped,
        }

    def checkpoint() -> Path:
        check_finite_weights(model, step)
        path = save_checkpoint(run_dir, step, snapshot(), cfg.keep_checkpoints)
        write_run_json(
            run_dir,
            {
                "run_name": run_name,
                "code_version": code_version(),
                "device": str(device),
                "world_size": world.size,
                "precision": precision,
                "params": model.num_params(),
                "step": step,
                "max_steps": cfg.max_steps,
                "tokens_seen": tokens_seen,
                "lineage": lineage,
                "mix": mix_info,
                "model_config": model_cfg.to_dict(),
                "train_config": cfg.to_dict(),
                "latest": path.name,
                "checkpoints": [p.name for p in list_checkpoints(run_dir)],
                "best_val_loss": best_val if math.isfinite(best_val) else None,
                "last_val": last_val,
                "losses": history,
            },
        )
        runlog.plot(history)
        return path

    def validate() -> bool:
        """Evaluate at this step (once); True when a new validation result was recorded."""
        nonlocal best_val, last_val
        if history["val"] and history["val"][-1][0] == step:
            return False
        result = evaluate(model, val_set, token_bytes, device, precision)
        if result["loss"] is None:
            return False
        last_val = result
        history["val"].append([step, result["loss"]])
        runlog.write("val", step, **result)
        log.info("step %d val loss %.4f bpb %s", step, result["loss"], result["bpb"])
        if tokenizer is not None and cfg.eval_prompts and cfg.eval_sample_tokens:
            try:
                samples = greedy_samples(model, tokenizer, cfg.eval_prompts, cfg.eval_sample_tokens)
                runlog.write("samples", step, samples=samples)
            except ImportError as e:  # encoding prompts needs the optional 'tokenizers' package
                log.warning("no eval samples: %s", e)
        if cfg.keep_best and result["loss"] < best_val:
            best_val = result["loss"]
            check_finite_weights(model, step)
            save_best(run_dir, snapshot())
        return True

    ddp = speed.wrap_ddp(model, device) if world.size > 1 else model
    fwd = speed.compiled(ddp, speed.wants_compile(cfg.compile, device))
    guard = NonFiniteGuard(cfg.nonfinite_limit, skipped)
    prefetcher = Prefetcher(sampler, cfg.grad_accum, world.rank, world.size, device)
    peak = speed.peak_flops(device, precision)
    n_params = model.num_params()
    end_step = min(cfg.max_steps, stop_at_step) if stop_at_step is not None else cfg.max_steps
    started = time.monotonic()
    deadline = started + cfg.time_budget_minutes * 60 if cfg.time_budget_minutes > 0 else math.inf
    saved_step = step if found is not None else -1
    last_save, save_seconds, step_seconds = started, 0.0, 0.0
    tick, tick_tokens, tick_step = time.perf_counter(), tokens_seen, step
    tokens_per_step = cfg.grad_accum * cfg.batch_size * seq_len * world.size
    while step < end_step and not _out_of_time(deadline, step_seconds + save_seconds, world, device):
        step_start = time.monotonic()
        factor = lr_factor(step, cfg)
        set_lr(optimizer, factor)
        micro = prefetcher.take()
        kept = int(all_sum(torch.tensor(sum(n for _, n in micro), device=device), world))
        step_loss = torch.zeros((), device=device)
        for i, (b, n_kept) in enumerate(micro):
            last = i == len(micro) - 1
            # DDP all-reduces gradients on every backward unless told not to: only the last one syncs
            sync = contextlib.nullcontext() if last or world.size == 1 else ddp.no_sync()
            with sync:
                with autocast(device, precision):
                    _, loss = fwd(b.x, b.y, b.loss_mask)
                # mean over this micro-batch's kept targets -> its share of the window's mean; DDP
                # averages gradients over processes, so each scales by the world size to sum them
                loss = loss * (n_kept / max(kept, 1))
                scaler.scale(loss * world.size).backward()
            step_loss += loss.detach()
            del loss
        if step + 1 < end_step:
            prefetcher.prefetch()  # the next step's batches load while the GPU works through this one
        scaler.unscale_(optimizer)  # clip (and report) the true gradient norm, not the scaled one
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
        loss_value = float(all_sum(step_loss, world))
        if guard.allow(step, loss_value, grad_norm):
            scaler.step(optimizer)
        elif world.main:
            runlog.write("skip", step + 1, loss=loss_value, grad_norm=grad_norm,
                         scale=scaler.get_scale() if scaler.is_enabled() else None, skipped=guard.skipped)  # fmt: skip
        guard.stop_if_stuck()
        scaler.update()  # fp16: lowers the scale after an overflow, raises it after a run of good steps
        optimizer.zero_grad(set_to_none=True)
        if guard.in_row:
            continue  # no update was made: the step number, tokens and schedule stay where they were
        step += 1
        tokens_seen += tokens_per_step
        history["train"].append([step, loss_value])
        step_seconds = time.monotonic() - step_start
        if world.main and (step % cfg.log_every == 0 or step == end_step):
            now = time.perf_counter()
            tok_s = (tokens_seen - tick_tokens) / max(now - tick, 1e-9)
            steps_s = (step - tick_step) / max(now - tick, 1e-9)
            tick, tick_tokens, tick_step = now, tokens_seen, step
            loss_now = history["train"][-1][1]
            extra = {"mfu": mfu(tok_s / world.size, model_cfg, n_params, peak)} if peak else {}
            if scaler.is_enabled():
                extra["loss_scale"] = scaler.get_scale()
            runlog.write(
                "train", step, loss=loss_now, lr_factor=factor, grad_norm=grad_norm, tok_s=tok_s,
                tokens_seen=tokens_seen, skipped_steps=guard.skipped, **extra,
            )  # fmt: skip
            runlog.progress(step, cfg.max_steps, loss_now, tok_s, steps_s)
        if world.main and cfg.eval_every and step % cfg.eval_every == 0:
            validate()
        due = cfg.checkpoint_every and step % cfg.checkpoint_every == 0
        due = due or (
            cfg.checkpoint_minutes > 0 and time.monotonic() - last_save >= cfg.checkpoint_minutes * 60
        )
        if world.main and due:
            save_start = time.monotonic()
            checkpoint()
            last_save, save_seconds, saved_step = time.monotonic(), time.monotonic() - save_start, step
    if world.main:
        if validate() or saved_step != step:
            checkpoint()
        runlog.close()
        if cfg.final_eval:  # the evaluation suite on the last checkpoint, saved beside it
            from train.eval_suite import evaluate_model

            evaluate_model(run_dir, cfg.final_eval, artifacts_root)
    barrier(world)
    path = latest_checkpoint(run_dir)
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
        skipped_steps=guard.skipped,
        tokens_seen=tokens_seen,
        val=last_val,
        best_val_loss=best_val if math.isfinite(best_val) else None,
        lineage=lineage,
        model_config=model_cfg.to_dict(),
    )


def _train_streams(
    manifest: Manifest, mix: dict[str, float]
) -> tuple[dict[str, TokenStream], dict[str, float]]:
    """One stream over every train file (no mix), or one per source with the mix's weights."""
    if not mix:
        return {"all": TokenStream(manifest, "train")}, {"all": 1.0}
    present = sources(manifest, "train")
    missing = sorted(s for s, w in mix.items() if w > 0 and s not in present)
    if missing:
        raise ArtifactError(f"{manifest.ref} has no train tokens from source(s) {missing}; it has {present}")
    return {s: TokenStream(manifest, "train", s) for s in present}, {
        s: float(mix.get(s, 0.0)) for s in present
    }


def _out_of_time(deadline: float, needed_s: float, world: World, device: torch.device) -> bool:
    """True when another step and a checkpoint would not fit before the deadline (agreed by all ranks)."""
    if math.isinf(deadline):
        return False
    late = torch.tensor(float(time.monotonic() + needed_s >= deadline), device=device)
    return bool(all_sum(late, world) > 0)


def _start_run_dir(run_dir: Path, manifest: Manifest) -> None:
    """Create the run folder with a copy of the shards' tokenizer, checked against its manifest."""
    run_dir.mkdir(parents=True, exist_ok=True)
    name = manifest.extra.get("tokenizer_file")
    if not name:
        log.warning("%s names no tokenizer_file; sampling from this run will need one", manifest.ref)
        return
    src = manifest.path_of(manifest.file(name))
    shutil.copyfile(src, run_dir / TOKENIZER_FILE)
    expected = manifest.extra.get("tokenizer_sha256")
    if expected and sha256_file(run_dir / TOKENIZER_FILE) != expected:
        raise ArtifactError(f"{manifest.ref}: {name} does not match tokenizer_sha256 {expected}")
