"""Where and how a run computes: device, precision, autocast and the torchrun process group.

Precision: fp32 on CPU; on CUDA bf16 from compute capability 8.0 (Ampere and newer), else fp16 with
loss scaling (T4, V100). The capability check, not ``torch.cuda.is_bf16_supported()``: the latter
can report True on a T4 through emulation, which is slow.

Distributed: under ``torchrun`` (``WORLD_SIZE`` > 1) each process joins a process group (NCCL on
CUDA, gloo on CPU) and, on CUDA, takes the GPU of its ``LOCAL_RANK``. A plain ``python`` run is one
process of a world of one and never touches ``torch.distributed``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """The one process that evaluates, logs and writes checkpoints."""
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def pick_precision(device: torch.device, requested: str, capability: tuple[int, int] | None = None) -> str:
    """fp32 on CPU; on CUDA bf16 from compute capability 8.0, else fp16 with loss scaling.

    ``bf16`` asked for on an older GPU is refused: it would run emulated, several times slower.
    ``capability`` defaults to the device's own.
    """
    if device.type != "cuda":
        if requested in ("bf16", "fp16"):
            raise ValueError(f"precision {requested!r} needs a CUDA device; this run is on {device}")
        return "fp32"
    cap = capability or torch.cuda.get_device_capability(device)
    if requested == "bf16" and cap < (8, 0):
        raise ValueError(
            f"precision 'bf16' needs compute capability 8.0 (Ampere) or newer; {device} is "
            f"{cap[0]}.{cap[1]}: use precision = 'fp16' (or 'auto')"
        )
    if requested != "auto":
        return requested
    return "bf16" if cap >= (8, 0) else "fp16"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def init_world(device_name: str) -> tuple[World, torch.device]:
    """Join the torchrun process group when launched by torchrun; else a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(), pick_device(device_name)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(rank, size), device


def all_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    """Sum of ``value`` over every process (the value itself in a world of one)."""
    if world.size > 1:
        value = value.clone()
        dist.all_reduce(value)
    return value


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()
