"""Speed and memory settings of a training run: TF32, torch.compile, DDP, checkpointing, MFU.

- TF32 matmuls on CUDA (``torch.set_float32_matmul_precision("high")``): fp32 parts of a mixed
  precision step, and whole fp32 runs, use the tensor cores of Ampere and newer.
- ``compile = "auto"`` compiles on CUDA and never on CPU. A compile that cannot work (no Triton on
  Windows, an unsupported GPU, a graph dynamo refuses) falls back to eager execution with a warning
  (``torch._dynamo.config.suppress_errors``) instead of ending the run.
- DDP with ``gradient_as_bucket_view`` (gradients live in the all-reduce buckets: one copy less) and
  ``broadcast_buffers=False`` (the model's only buffers are the RoPE tables, identical everywhere).
- ``activation_checkpointing = "auto"`` turns per-block recomputation on when the planner
  (``train.plan``) says the config's micro-batch does not fit the device's memory without it.
- MFU is the achieved model FLOP/s over the peak of ``train.plan.GPUS`` for this GPU and precision.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from model.gpt import GPTConfig
from train.plan import GPUS, HEADROOM, estimate, gpu_key, needs_checkpointing

log = logging.getLogger(__name__)


def enable_tf32(device: torch.device) -> None:
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")


def wants_compile(setting: bool | str, device: torch.device) -> bool:
    """``compile`` of the config: True, False, or ``"auto"`` (on CUDA only)."""
    return device.type == "cuda" if setting == "auto" else bool(setting)


def compiled(module: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(module)`` that falls back to ``module`` itself when compiling cannot work."""
    if not enabled:
        return module
    try:
        import torch._dynamo

        torch._dynamo.config.suppress_errors = True  # a failed compile runs eagerly, with a warning
        return torch.compile(module)
    except Exception as e:  # any failure to set up the compiler means: run eagerly
        log.warning("torch.compile is not available here (%s); training runs uncompiled", e)
        return module


def wrap_ddp(model: nn.Module, device: torch.device) -> DistributedDataParallel:
    return DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        gradient_as_bucket_view=True,
        broadcast_buffers=False,
    )


def device_memory(device: torch.device) -> int | None:
    """Total memory of a CUDA device in bytes (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.get_device_properties(device).total_memory


def use_checkpointing(
    setting: str, model_cfg: GPTConfig, batch_size: int, precision: str, optimizer: str, memory: int | None
) -> bool:
    """Whether blocks recompute in backward: ``"on"``, ``"off"``, or ``"auto"`` by the planner.

    ``memory`` is the device's memory in bytes (None on CPU, where ``auto`` means off).
    """
    if setting != "auto":
        return setting == "on"
    if memory is None:
        return False
    budget = int(memory * HEADROOM)
    on = needs_checkpointing(model_cfg, batch_size, precision, budget, optimizer)
    if on:
        plain = estimate(model_cfg, batch_size, precision, False, optimizer)["total"]
        ckpt = estimate(model_cfg, batch_size, precision, True, optimizer)["total"]
        log.info(
            "activation checkpointing on: micro-batch %d needs ~%.1f GB without it, ~%.1f GB with, of %.1f GB",
            batch_size, plain / 1e9, ckpt / 1e9, memory / 1e9,
        )  # fmt: skip
    return on


def peak_flops(device: torch.device, precision: str) -> float | None:
    """Dense peak FLOP/s of this CUDA device at ``precision`` (None on CPU or an unknown GPU)."""
    if device.type != "cuda":
        return None
    key = gpu_key(torch.cuda.get_device_name(device))
    return GPUS[key].peak_flops.get(precision) if key else None
