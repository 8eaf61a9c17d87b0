"""One training configuration object, read from a TOML file a user edits.

A file has two tables: ``[model]`` picks a preset from ``model.gpt.PRESETS`` and may override any
``GPTConfig`` field (``vocab_size`` defaults to the shards' vocabulary), and ``[train]`` sets the
fields of ``TrainConfig``. Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from model.gpt import GPTConfig


@dataclass
class TrainConfig:
    """How to train: model choice, batch shape, optimizer, schedule, evaluation and checkpoints."""

    model: dict[str, Any] = field(default_factory=lambda: {"preset": "tiny"})
    seed: int = 1337
    batch_size: int = 8  # sequences per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    max_steps: int = 100
    # optimizer (AdamW; no weight decay on norms and embeddings)
    lr: float = 3e-4
    min_lr_ratio: float = 0.1  # the schedule ends at lr * min_lr_ratio
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    # schedule: "cosine" (warmup then cosine decay) or "wsd" (warmup, constant, linear decay at the end)
    schedule: str = "cosine"
    warmup_steps: int = 100
    decay_frac: float = 0.2  # wsd only: fraction of max_steps spent decaying
    # evaluation, logging and checkpoints
    eval_every: int = 100  # optimizer steps between validation passes; 0 = only at the end
    eval_windows: int = 32  # fixed validation windows of seq_len tokens
    log_every: int = 10
    checkpoint_every: int = 100  # 0 = only at the end
    keep_checkpoints: int = 3
    time_budget_s: float = 0.0  # stop cleanly (with a checkpoint) after this many seconds; 0 = none
    # hardware
    device: str = "auto"  # "auto" (cuda when present), "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"  # "auto", "fp32", "bf16", "fp16"
    compile: bool = False  # torch.compile the training forward/backward

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"schedule must be 'cosine' or 'wsd', not {self.schedule!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, not {self.precision!r}")
        for name in ("batch_size", "grad_accum", "max_steps", "keep_checkpoints", "eval_windows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The network for a shards version with ``vocab_size`` token ids."""
        overrides = dict(self.model)
        preset = overrides.pop("preset", "tiny")
        overrides.setdefault("vocab_size", vocab_size)
        cfg = GPTConfig.preset(preset, **overrides)
        if cfg.vocab_size < vocab_size:
            raise ValueError(
                f"model vocab_size {cfg.vocab_size} is smaller than the shards' vocabulary {vocab_size}"
            )
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        """Read ``[model]`` and ``[train]`` tables from a TOML file."""
        data = tomllib.loads(Path(path).read_text())
        unknown = set(data) - {"model", "train"}
        if unknown:
            raise ValueError(f"{path}: unknown tables {sorted(unknown)}; expected [model] and [train]")
        model = dict(data.get("model", {}))
        GPTConfig.preset(model.get("preset", "tiny"), **{k: v for k, v in model.items() if k != "preset"})
        return cls.from_dict({**data.get("train", {}), "model": model})
