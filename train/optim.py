"""The optimizers (AdamW, or Muon for the block matrices) and the learning-rate schedule.

Which parameter goes where is decided in one place, ``param_groups``:

- block matrices (attention q/k/v/o, MLP gate/up/down): weight decay, and Muon when
  ``optimizer = "muon"``;
- RMSNorm gains and the tied embedding/head matrix: AdamW without weight decay. Decaying the gains
  pulls them toward zero for no benefit; decaying the embedding shrinks rare tokens' rows, which get
  few updates to push back. Muon is meant for hidden matrices only: its README and Megatron-LM PR
  #4642 keep embeddings and heads on AdamW ("it empirically performs worse", Muon#13).

Muon (Keller Jordan, github.com/KellerJordan/Muon): SGD momentum with Nesterov, whose update is
replaced by the nearest semi-orthogonal matrix, found with five quintic Newton–Schulz iterations,
then scaled by ``sqrt(max(1, rows/cols))``. The iteration runs in bf16 on Ampere and newer GPUs and
in fp32 elsewhere: fp16 overflows there (T4), and CPU bf16 matmuls are slow and not needed.
``Muon`` is one optimizer object holding both kinds of group, so loss scaling, clipping, the
schedule and ``state_dict`` (momentum buffers included, hence exact resume) work as with AdamW.

The schedule is a pure function of the step, so resuming needs only the step number. It returns a
factor applied to every group's base rate (``lr`` for AdamW groups, ``muon_lr`` for Muon groups):
``cosine`` = linear warmup then cosine decay to ``min_lr_ratio``; ``wsd`` (warmup-stable-decay) =
warmup, constant, then linear decay over the last ``decay_frac`` of the run, which lets a run be
extended before its decay starts.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from train.config import TrainConfig

# quintic Newton–Schulz coefficients of the Muon reference implementation
NS_COEFFS = (3.4445, -4.7750, 2.0315)


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Block matrices (decayed; Muon if chosen) and the rest (AdamW, no decay), each with ``base_lr``."""
    matrices, rest = [], []
    for name, p in model.named_parameters():  # named_parameters yields the tied matrix once
        if not p.requires_grad:
            continue
        if p.dim() >= 2 and "embed_tokens" not in name and "lm_head" not in name:
            matrices.append(p)
        else:
            rest.append(p)
    muon = cfg.optimizer == "muon"
    return [
        {
            "params": matrices,
            "use_muon": muon,
            "base_lr": cfg.muon_lr if muon else cfg.lr,
            "weight_decay": cfg.muon_weight_decay if muon else cfg.weight_decay,
        },
        {"params": rest, "use_muon": False, "base_lr": cfg.lr, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (the fused CUDA kernel on a GPU) or ``Muon`` over ``param_groups``."""
    groups = param_groups(model, cfg)
    betas = (cfg.beta1, cfg.beta2)
    if cfg.optimizer == "muon":
        return Muon(groups, lr=cfg.muon_lr, momentum=cfg.muon_momentum, betas=betas, eps=cfg.eps)
    for g in groups:
        del g["use_muon"]
    on_cuda = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=betas, eps=cfg.eps, fused=on_cuda or None)


def orthogonalize(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately ``U V^T`` of ``g = U S V^T`` by quintic Newton–Schulz (Muon's ``zeropower``)."""
    a, b, c = NS_COEFFS
    fast_bf16 = g.is_cuda and torch.cuda.get_device_capability(g.device) >= (8, 0)
    x = g.to(torch.bfloat16 if fast_bf16 else torch.float32)
    tall = x.size(-2) > x.size(-1)
    if tall:  # iterate on the wide orientation: X X^T is then the smaller Gram matrix
        x = x.mT
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)  # spectral norm <= 1, so the iteration converges
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.mT if tall else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Muon on groups with ``use_muon`` (2-D matrices), AdamW on the others; one state dict for both.

    Every group needs ``use_muon`` and ``weight_decay``; ``lr`` defaults to the constructor's.
    Weight decay is decoupled (``p *= 1 - lr * wd``) in both kinds of group.
    """

    def __init__(
        self,
        groups: list[dict],
        lr: float = 0.02,
        momentum: float = 0.95,
        ns_steps: int = 5,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
    ) -> None:
        for g in groups:
            if g["use_muon"] and any(p.dim() != 2 for p in g["params"]):
                raise ValueError("Muon groups take 2-D matrices only; put other tensors in an AdamW group")
        defaults = {"lr": lr, "momentum": momentum, "ns_steps": ns_steps, "betas": betas, "eps": eps}
        super().__init__(groups, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                p.mul_(1 - lr * wd)
                if group["use_muon"]:
                    update = self._muon_update(p.grad, state, group)
                else:
                    update = self._adam_update(p.grad, state, group)
                p.add_(update, alpha=-lr)
        return loss

    @staticmethod
    def _muon_update(grad: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        beta = group["momentum"]
        if not state:
            state["momentum_buffer"] = torch.zeros_like(grad)
        buf = state["momentum_buffer"]
        buf.lerp_(grad, 1 - beta)
        nesterov = grad.lerp(buf, beta)
        update = orthogonalize(nesterov, group["ns_steps"])
        return update * max(1.0, grad.size(-2) / grad.size(-1)) ** 0.5

    @staticmethod
    def _adam_update(grad: torch.Tensor, state: dict, group: dict) -> torch.Tensor:
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32)
            state["exp_avg"] = torch.zeros_like(grad)
            state["exp_avg_sq"] = torch.zeros_like(grad)
        if state["step"].device.type != "cpu":  # a step count on the GPU would cost a sync per parameter
            state["step"] = state["step"].cpu()
        state["step"] += 1
        t = float(state["step"])
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].lerp_(grad.square(), 1 - beta2)
        denom = (state["exp_avg_sq"] / (1 - beta2**t)).sqrt_().add_(group["eps"])
        return state["exp_avg"] / (1 - beta1**t) / denom


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, saved: dict, model: nn.Module, cfg: TrainConfig
) -> None:
    """Load optimizer state, then re-apply this config's rates and decay (a TOML edit takes effect)."""
    optimizer.load_state_dict(saved)
    for group, fresh in zip(optimizer.param_groups, param_groups(model, cfg), strict=True):
        group.update({k: fresh[k] for k in ("base_lr", "weight_decay")})


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of every group's base learning rate at optimizer step ``step`` (0-based)."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    floor = cfg.min_lr_ratio
    if cfg.schedule == "wsd":
        decay_steps = max(1, round(cfg.max_steps * cfg.decay_frac))
        decay_start = cfg.max_steps - decay_steps
        if step < decay_start:
            return 1.0
        frac = min(1.0, (step - decay_start + 1) / decay_steps)
        return 1.0 + frac * (floor - 1.0)
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    frac = min(1.0, (step - cfg.warmup_steps) / span)
    return floor + 0.5 * (1.0 + math.cos(math.pi * frac)) * (1.0 - floor)


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set every group's rate to its ``base_lr`` times the schedule's ``factor``."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
