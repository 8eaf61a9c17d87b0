"""One training configuration object, read from a TOML file a user edits.

A file has two tables: ``[model]`` picks a preset from ``model.gpt.PRESETS`` and may override any
``GPTConfig`` field (``vocab_size`` defaults to the shards' vocabulary), and ``[train]`` sets the
fields of ``TrainConfig``. Unknown keys are errors naming the key and the file, so a typo never
silently falls back to a default. A config is a path or the name of a shipped one
(``garimpo/configs/train/<name>.toml``: ``tiny``, ``small``, ``portulino``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from garimpo.core import settings
from model.gpt import GPTConfig

DEFAULT_CONFIG = "tiny"  # the shipped config a run uses when none is named


@dataclass
class TrainConfig:
    """How to train: model choice, batch shape, optimizer, schedule, evaluation and checkpoints."""

    model: dict[str, Any] = field(default_factory=lambda: {"preset": "tiny"})
    seed: int = 1337
    batch_size: int = 8  # sequences per micro-batch (per process under torchrun)
    grad_accum: int = 1  # micro-batches per optimizer step
    max_steps: int = 100
    # source mixing: {"text": 1.0, "instruct": 0.5} draws each training window from a source with
    # these relative weights; empty = one stream over every .ds file of the split
    mix: dict[str, float] = field(default_factory=dict)
    # optimizer: "adamw", or "muon" for the block matrices (embeddings and norms stay on AdamW)
    optimizer: str = "adamw"
    lr: float = 3e-4  # AdamW rate (all parameters with "adamw"; embeddings and norms with "muon")
    min_lr_ratio: float = 0.1  # the schedule ends at every rate times this
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    muon_lr: float = 0.02  # Muon rate of the block matrices
    muon_momentum: float = 0.95
    muon_weight_decay: float = 0.01
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    # schedule: "cosine" (warmup then cosine decay) or "wsd" (warmup, constant, linear decay at the end)
    schedule: str = "cosine"
    warmup_steps: int = 100
    decay_frac: float = 0.2  # wsd only: fraction of max_steps spent decaying
    # evaluation and logging
    eval_every: int = 100  # optimizer steps between validation passes; 0 = only at the end
    eval_windows: int = 32  # fixed validation windows of seq_len tokens, per source
    eval_prompts: list[str] = field(default_factory=lambda: ["O Brasil é", "A capital de Minas Gerais"])
    eval_sample_tokens: int = 32  # greedy tokens generated per eval prompt (0 = no samples)
    final_eval: str = ""  # eval settings (shipped name or TOML) run on the last checkpoint; "" = none
    log_every: int = 10
    # checkpoints: every checkpoint_every steps and every checkpoint_minutes, keeping the newest
    # keep_checkpoints plus best.pt (lowest val loss) when keep_best
    checkpoint_every: int = 100  # 0 = only at the end
    checkpoint_minutes: float = 0.0  # 0 = no time-based checkpoints
    keep_checkpoints: int = 3
    keep_best: bool = True
    time_budget_minutes: float = 0.0  # stop cleanly (with a checkpoint) before this much wall time; 0 = none
    # hardware
    device: str = "auto"  # "auto" (cuda when present), "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"  # "auto", "fp32", "bf16" (compute capability 8.0+), "fp16"
    compile: bool | str = "auto"  # torch.compile the training step; "auto" = on CUDA, falls back to eager
    # recompute each block in backward instead of keeping its activations: "auto" = when the memory
    # planner says the micro-batch does not fit the GPU without it (never on CPU), "on", "off"
    activation_checkpointing: str = "auto"
    nonfinite_limit: int = 20  # stop after this many steps in a row with a NaN/inf loss or gradient norm

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"schedule must be 'cosine' or 'wsd', not {self.schedule!r}")
        if self.optimizer not in ("adamw", "muon"):
            raise ValueError(f"optimizer must be 'adamw' or 'muon', not {self.optimizer!r}")
        if any(w < 0 for w in self.mix.values()) or (self.mix and not any(self.mix.values())):
            raise ValueError(f"mix weights must be >= 0 with at least one > 0, got {self.mix}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, not {self.precision!r}")
        if self.compile not in (True, False, "auto"):
            raise ValueError(f"compile must be true, false or 'auto', not {self.compile!r}")
        if self.activation_checkpointing not in ("auto", "on", "off"):
            raise ValueError(
                f"activation_checkpointing must be auto, on or off, not {self.activation_checkpointing!r}"
            )
        for name in (
            "batch_size",
            "grad_accum",
            "max_steps",
            "keep_checkpoints",
            "eval_windows",
            "nonfinite_limit",
        ):
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
    def from_dict(cls, d: dict[str, Any], origin: str = "training settings") -> TrainConfig:
        """Build from a ``[train]`` table (with ``model``); an unknown key is an error naming it and ``origin``."""
        return settings.from_dict(cls, d, origin)

    @classmethod
    def from_toml(cls, path_or_name: str | Path = DEFAULT_CONFIG, **overrides: Any) -> TrainConfig:
        """Read ``[model]`` and ``[train]`` tables from a TOML file or a shipped config's name.

        ``overrides`` replace ``[train]`` settings (command-line and flow options); ``None`` values are
        ignored so callers can pass their optional flags straight through.
        """
        path = settings.config_path("train", path_or_name)
        data = settings.read_toml(path)
        unknown = set(data) - {"model", "train"}
        if unknown:
            raise ValueError(f"{path}: unknown tables {sorted(unknown)}; expected [model] and [train]")
        model = dict(data.get("model", {}))
        try:
            GPTConfig.preset(model.get("preset", "tiny"), **{k: v for k, v in model.items() if k != "preset"})
        except ValueError as e:
            raise ValueError(f"{path} [model]: {e}") from e
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls.from_dict({**data.get("train", {}), **given, "model": model}, f"{path} [train]")
