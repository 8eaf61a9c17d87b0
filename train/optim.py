"""The optimizer and the learning-rate schedule.

AdamW with decoupled weight decay on the matrices of the blocks only: decaying RMSNorm gains pulls
them toward zero for no benefit, and decaying the (tied) embedding shrinks rare tokens' rows, which
get few gradient updates to push back. ``build_optimizer`` is the one place that decides which
parameter goes to which group, so another optimizer for the block matrices (Muon) slots in here.

The schedule is a pure function of the step, so resuming needs only the step number:
``cosine`` = linear warmup then cosine decay to ``lr * min_lr_ratio``; ``wsd`` (warmup-stable-decay)
= warmup, constant, then linear decay over the last ``decay_frac`` of the run, which lets a run be
extended before its decay starts.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from train.config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Block matrices with weight decay; norms and embeddings (tied head included) without."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():  # named_parameters yields the tied matrix once
        if not p.requires_grad:
            continue
        if p.dim() >= 2 and "embed_tokens" not in name and "lm_head" not in name:
            decay.append(p)
        else:
            no_decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over ``param_groups``; the fused CUDA kernel when the model lives on a GPU."""
    on_cuda = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        fused=on_cuda or None,
    )


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step`` (0-based)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "wsd":
        decay_steps = max(1, round(cfg.max_steps * cfg.decay_frac))
        decay_start = cfg.max_steps - decay_steps
        if step < decay_start:
            return cfg.lr
        frac = min(1.0, (step - decay_start + 1) / decay_steps)
        return cfg.lr + frac * (floor - cfg.lr)
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    frac = min(1.0, (step - cfg.warmup_steps) / span)
    return floor + 0.5 * (1.0 + math.cos(math.pi * frac)) * (cfg.lr - floor)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
