"""Export a training run to the Hugging Face Llama layout (``garimpo export``).

The run folder has everything needed: the checkpoint (latest, ``best.pt`` or a named file) and the
tokenizer copy whose sha256 the checkpoint records. The lineage (shards versions seen) goes into the
exported folder as ``garimpo.json`` so a published model names the data it was trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

from garimpo.core.formats import EOS_TOKEN
from model.export_hf import export_hf
from train.checkpoint import BEST
from train.sample import load_model, run_tokenizer


def export_run(run_dir_or_checkpoint: str | Path, out_dir: str | Path, best: bool = False) -> Path:
    """Write ``config.json``, ``model.safetensors``, the tokenizer and ``garimpo.json`` to ``out_dir``.

    ``best`` picks the run's ``best.pt`` (lowest validation loss) instead of its latest checkpoint.
    """
    source = Path(run_dir_or_checkpoint)
    if best:
        source = (source if source.is_dir() else source.parent) / BEST
    model, state = load_model(source)
    tok = run_tokenizer(source, state)
    out = export_hf(model, out_dir, tok.path, tok.token_to_id(EOS_TOKEN), eos_token=EOS_TOKEN)
    info = {"step": state["step"], "tokens_seen": state["tokens_seen"], "lineage": state["lineage"]}
    (out / "garimpo.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return out
