"""Export a ``GPT`` to the Hugging Face Llama layout, loadable with ``LlamaForCausalLM.from_pretrained``.

The network already uses HF's parameter names, RoPE convention (``rotate_half``), RMSNorm and SwiGLU
order, so export is a rename (prefix ``model.``), dropping the tied head (``tie_word_embeddings``),
and a ``config.json``. The folder then works with transformers, vLLM, llama.cpp's converter and the
Hub. ``safetensors`` is imported only here, so training never needs it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from model.gpt import GPT


def hf_config(model: GPT, eos_id: int | None = None) -> dict:
    """``config.json`` for ``LlamaForCausalLM`` (keys of transformers 4.x and 5.x both present)."""
    c = model.cfg
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c.vocab_size,
        "hidden_size": c.n_embd,
        "intermediate_size": c.hidden_dim,
        "num_hidden_layers": c.n_layer,
        "num_attention_heads": c.n_head,
        "num_key_value_heads": c.n_kv_head,
        "head_dim": c.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": c.seq_len,
        "rms_norm_eps": c.norm_eps,
        "rope_theta": c.rope_theta,  # transformers 4.x
        "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},  # transformers 5.x
        "tie_word_embeddings": True,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": eos_id,  # documents are preceded by <|endoftext|>, so it doubles as BOS
        "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }


def export_hf(
    model: GPT,
    out_dir: str | Path,
    tokenizer_file: str | Path | None = None,
    eos_id: int | None = None,
    eos_token: str | None = None,
) -> Path:
    """Write ``config.json``, ``model.safetensors`` (fp32) and, if given, the tokenizer into ``out_dir``.

    ``tokenizer_file`` is a Hugging Face ``tokenizer.json``, copied under its own name. ``eos_id`` is
    the end-of-document id and ``eos_token`` its string, which the tokenizer config names as both EOS
    and BOS; the caller passes them, as this module knows no token format.
    """
    try:
        from safetensors.torch import save_file
    except ImportError as e:
        raise ImportError(
            "exporting to the Hugging Face layout needs 'safetensors': pip install safetensors"
        ) from e
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = {
        f"model.{name}": t.detach().to("cpu", torch.float32).contiguous()
        for name, t in model.state_dict().items()
        if name != "lm_head.weight"  # tied to model.embed_tokens.weight
    }
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(model, eos_id), indent=2) + "\n")
    if tokenizer_file is not None:
        shutil.copyfile(tokenizer_file, out / Path(tokenizer_file).name)
        tok_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model.cfg.seq_len}
        if eos_id is not None and eos_token is not None:
            tok_cfg |= {"eos_token": eos_token, "bos_token": eos_token}
        (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2) + "\n")
    return out
