"""Checkpoints: everything a run needs to continue exactly where it stopped, written atomically.

A run lives in ``<artifacts>/checkpoints/<run_name>/``::

    step_0000100.pt   one checkpoint per saved step (the newest ``keep`` are kept)
    latest            text file naming the newest checkpoint file
    best.pt           the checkpoint with the lowest validation loss so far (when kept)
    run.json          what the run is: lineage, configs, losses so far, checkpoint list
    tokenizer.json    copy of the shards' tokenizer, so sampling and export need only this folder

A checkpoint is a ``torch.save`` dict of tensors and plain containers only (model, optimizer and
GradScaler states, sampler position, RNG states, step, tokens seen, loss history, model and training
configs, lineage), so ``torch.load(weights_only=True)`` reads it: loading a checkpoint never runs
pickled code. Each file is written to a temporary name, fsynced and renamed into place, and
``latest`` moves only after that, so a run killed mid-save still resumes from the previous step;
the temporary file such a kill leaves behind is removed when the run starts again.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from garimpo.core import ArtifactError, Manifest
from garimpo.core.fs import atomic_path, write_json_atomic, write_text_atomic
from garimpo.core.manifest import RUN_JSON
from model.gpt import GPTConfig

LATEST = "latest"
BEST = "best.pt"
FORMAT_VERSION = 1


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}.pt"


def _save_atomic(state: dict[str, Any], final: Path) -> None:
    with atomic_path(final) as tmp:
        torch.save({"format_version": FORMAT_VERSION, **state}, tmp)


def save_checkpoint(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` as ``step_XXXXXXX.pt``, point ``latest`` at it and keep the newest ``keep``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / checkpoint_name(step)
    _save_atomic(state, final)
    write_text_atomic(run_dir / LATEST, final.name + "\n")
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink()
    return final


def save_best(run_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` as ``best.pt`` (the caller decides it is the best so far)."""
    _save_atomic(state, run_dir / BEST)
    return run_dir / BEST


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    return sorted(run_dir.glob("step_*.pt"))


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``latest`` names, or None for a run with no checkpoint yet."""
    pointer = run_dir / LATEST
    if not pointer.is_file():
        return None
    path = run_dir / pointer.read_text().strip()
    if not path.is_file():
        raise ArtifactError(f"{pointer} names {path.name}, which does not exist")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file, or the latest checkpoint of a run folder."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise ArtifactError(f"no checkpoint in {path} (no {LATEST} pointer)")
        path = found
    state = torch.load(path, map_location=map_location, weights_only=True)
    if state.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{path}: unsupported checkpoint format {state.get('format_version')!r}")
    return state


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and every CUDA device) generator states, as tensors and tuples."""
    keys, pos, has_gauss, cached = np.random.get_state()[1:]
    return {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured (CUDA states only when the device count matches)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    # generator states must be CPU byte tensors, whatever map_location the checkpoint was loaded with
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def write_run_json(run_dir: Path, info: dict[str, Any]) -> None:
    write_json_atomic(run_dir / RUN_JSON, info)


def check_compatible(
    state: dict[str, Any], model_cfg: GPTConfig, manifest: Manifest, path: Path, allow_new_shards: bool
) -> None:
    """Refuse to load a checkpoint into a different network, other shards or another tokenizer."""
    saved = GPTConfig.from_dict(state["model_config"])
    if saved != model_cfg:
        raise ArtifactError(f"{path} was trained with {saved}, not {model_cfg}; pick another run_name")
    seen = state["lineage"]["shards"][-1]
    if seen != manifest.ref and not allow_new_shards:
        raise ArtifactError(
            f"{path} was trained on {seen}, not {manifest.ref}; pick another run_name, "
            "or allow new shards to continue this run on them"
        )
    old_tok, new_tok = state["lineage"].get("tokenizer_sha256"), manifest.extra.get("tokenizer_sha256")
    if old_tok and new_tok and old_tok != new_tok:
        raise ArtifactError(
            f"{path} was trained with tokenizer {old_tok[:12]}, {manifest.ref} uses {new_tok[:12]}"
        )
