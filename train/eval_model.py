"""The model under evaluation: a run folder, a checkpoint file or a Hugging Face export folder.

Whatever the target, evaluation sees one interface: a module whose call on ``[B, T]`` ids returns
``(logits, _)`` and whose ``token_losses`` gives per-token nats (garimpo's ``GPT`` does both; an
exported folder is loaded with ``transformers`` and wrapped), the tokenizer the model was trained with, its context length, and the lineage that names
the checkpoint and the shards versions it saw.

``loglikelihood`` scores a continuation given a context exactly the way lm-evaluation-harness's
``HFLM`` does, so garimpo's scores and the harness's agree: trailing spaces of the context move to
the continuation, the pair is encoded whole and split at the context's token count, the input is
cut from the left to ``max_length + 1`` tokens and the last one dropped, and the result is the summed
log-probability of the continuation tokens plus whether greedy decoding would have produced them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from garimpo.core import ArtifactError
from garimpo.core.formats import EOS_TOKEN, TOKENIZER_FILE
from train.checkpoint import latest_checkpoint
from train.sample import load_model, run_tokenizer
from train.tokenizer import Tokenizer

HF_CONFIG = "config.json"
HF_LINEAGE = "garimpo.json"  # written by `garimpo export`


class _HFCall(torch.nn.Module):
    """A transformers causal LM behind garimpo's ``model(ids) -> (logits, None)`` call."""

    def __init__(self, hf: torch.nn.Module) -> None:
        super().__init__()
        self.hf = hf

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.hf(input_ids=idx).logits, None

    def token_losses(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-position cross-entropy ``[B, T]`` in nats, as ``GPT.token_losses`` (what ``evaluate`` calls)."""
        with torch.no_grad():
            logits = self.hf(input_ids=idx).logits.float()
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)


@dataclass
class EvalModel:
    """A loaded model with its tokenizer, context length and lineage."""

    model: torch.nn.Module
    tokenizer: Tokenizer
    seq_len: int
    kind: str  # "checkpoint" or "hf"
    path: Path
    lineage: dict = field(default_factory=dict)
    step: int | None = None

    @property
    def eos(self) -> int:
        eos = self.tokenizer.token_to_id(EOS_TOKEN)
        if eos is None:
            raise ArtifactError(f"{self.tokenizer.path} has no {EOS_TOKEN} token")
        return eos

    @property
    def out_dir(self) -> Path:
        """Where results go: the run folder (or the export folder)."""
        return self.path if self.path.is_dir() else self.path.parent

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "step": self.step, "lineage": self.lineage}


def load_eval_model(target: str | Path, device: str = "cpu") -> EvalModel:
    """Load a run folder or checkpoint (garimpo's ``GPT``) or an HF export folder (``transformers``)."""
    path = Path(target)
    if not path.exists():
        raise ArtifactError(f"{path} does not exist (expected a run folder, a checkpoint or an HF export)")
    if path.is_dir() and (path / HF_CONFIG).is_file():
        return _load_hf(path, device)
    model, state = load_model(path, device)
    checkpoint = path if path.is_file() else latest_checkpoint(path)
    return EvalModel(
        model=model,
        tokenizer=run_tokenizer(path, state),
        seq_len=model.cfg.seq_len,
        kind="checkpoint",
        path=checkpoint,
        lineage=state["lineage"],
        step=state["step"],
    )


def _load_hf(folder: Path, device: str) -> EvalModel:
    try:
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        raise ImportError("evaluating an HF export needs 'transformers': pip install garimpo[eval]") from e
    if not (folder / TOKENIZER_FILE).is_file():
        raise ArtifactError(f"{folder} has no {TOKENIZER_FILE}")
    hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).to(device).eval()
    info = json.loads((folder / HF_LINEAGE).read_text()) if (folder / HF_LINEAGE).is_file() else {}
    return EvalModel(
        model=_HFCall(hf).eval(),
        tokenizer=Tokenizer(folder / TOKENIZER_FILE),
        seq_len=int(hf.config.max_position_embeddings),
        kind="hf",
        path=folder,
        lineage=info.get("lineage", {}),
        step=info.get("step"),
    )


def encode_pair(m: EvalModel, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation ids as the harness makes them; the context starts with ``<|endoftext|>``
    (every training document follows one), written as text in the harness's task file."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = [m.eos, *m.tokenizer.encode(context + continuation)]
    ctx = [m.eos, *m.tokenizer.encode(context)]
    return ctx, whole[len(ctx) :]


@torch.no_grad()
def loglikelihoods(
    m: EvalModel, context: str, continuations: list[str], device: torch.device
) -> list[tuple[float, bool]]:
    """``(summed log-probability, greedy)`` of each continuation after ``context``, in one batch."""
    rows = []
    for cont in continuations:
        ctx, cont_ids = encode_pair(m, context, cont)
        if not cont_ids:
            raise ValueError(f"continuation {cont!r} encodes to no tokens")
        inp = (ctx + cont_ids)[-(m.seq_len + 1) :][:-1]
        rows.append((inp, cont_ids))
    width = max(len(inp) for inp, _ in rows)
    x = torch.zeros(len(rows), width, dtype=torch.long)
    for i, (inp, _) in enumerate(rows):
        x[i, : len(inp)] = torch.tensor(inp)  # right padding: causal attention never looks at it
    logits, _ = m.model(x.to(device))
    logp = F.log_softmax(logits.float(), dim=-1).cpu()
    out = []
    for i, (inp, cont_ids) in enumerate(rows):
        n = len(cont_ids)
        part = logp[i, len(inp) - n : len(inp)]
        target = torch.tensor(cont_ids)
        ll = float(part.gather(1, target[:, None]).sum())
        out.append((ll, bool((part.argmax(-1) == target).all())))
    return out
