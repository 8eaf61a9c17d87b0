"""Export a ``GPT`` to the Hugging Face Llama layout, loadable with ``LlamaForCausalLM.from_pretrained``.

The network already uses HF's parameter names, RoPE convention (``rotate_half``), RMSNorm and SwiGLU
order, so export is a rename (prefix ``model.``), dropping the tied head (``tie_word_embeddings``),
and a ``config.json``. The folder then works with transformers, vLLM, llama.cpp's converter and the
Hub. ``safetensors`` is imported only here, so training never needs it.

So that ``transformers``' ``generate`` and ``pipeline("text-generation")`` continue a prompt exactly
as garimpo does, the folder also carries ``generation_config.json`` (EOS, BOS and a pad id, which
decoding a batch needs), a ``tokenizer.json`` whose post-processor puts the end-of-document token in
front of every encoded prompt (garimpo's prompts start with it, as every training document follows
one), and the chat template in ``tokenizer_config.json``. Weights are written in fp32, bf16 or fp16.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from model.gpt import GPT

DTYPES = {
    "fp32": ("float32", torch.float32),
    "bf16": ("bfloat16", torch.bfloat16),
    "fp16": ("float16", torch.float16),
}


def hf_config(model: GPT, eos_id: int | None = None, dtype: str = "fp32") -> dict:
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
        "pad_token_id": eos_id,  # no pad token of its own: padded positions are masked anyway
        "torch_dtype": DTYPES[dtype][0],  # transformers 4.x
        "dtype": DTYPES[dtype][0],  # transformers 5.x
    }


def generation_config(model: GPT, eos_id: int | None) -> dict:
    """``generation_config.json``: stop at the end of a document, pad with it, the model's context."""
    return {
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "pad_token_id": eos_id,
        "max_length": model.cfg.seq_len,
    }


def prepend_token(tokenizer_json: dict, token: str, token_id: int) -> dict:
    """A ``tokenizer.json`` whose post-processor starts every encoding with ``token``."""
    special = {"SpecialToken": {"id": token, "type_id": 0}}
    return {
        **tokenizer_json,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                special,
                {"Sequence": {"id": "A", "type_id": 0}},
                special,
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {token: {"id": token, "ids": [token_id], "tokens": [token]}},
        },
    }


def export_hf(
    model: GPT,
    out_dir: str | Path,
    tokenizer_file: str | Path | None = None,
    eos_id: int | None = None,
    eos_token: str | None = None,
    chat_template: str | None = None,
    dtype: str = "fp32",
) -> Path:
    """Write ``config.json``, ``generation_config.json``, ``model.safetensors`` and the tokenizer.

    ``tokenizer_file`` is a Hugging Face ``tokenizer.json``, written under its own name (with the
    end-of-document token prepended by its post-processor when ``eos_token`` is given). ``eos_id`` is
    the end-of-document id and ``eos_token`` its string, which the tokenizer config names as EOS, BOS
    and pad; ``chat_template`` is a Jinja template for ``apply_chat_template``. The caller passes
    them, as this module knows no token format. ``dtype``: ``fp32``, ``bf16`` or ``fp16`` weights.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    try:
        from safetensors.torch import save_file
    except ImportError as e:
        raise ImportError(
            "exporting to the Hugging Face layout needs 'safetensors': pip install safetensors"
        ) from e
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = {
        f"model.{name}": t.detach().to("cpu", DTYPES[dtype][1]).contiguous()
        for name, t in model.state_dict().items()
        if name != "lm_head.weight"  # tied to model.embed_tokens.weight
    }
    save_file(weights, out / "model.safetensors", metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(model, eos_id, dtype), indent=2) + "\n")
    gen = generation_config(model, eos_id)
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
    if tokenizer_file is not None:
        tok_json = json.loads(Path(tokenizer_file).read_text(encoding="utf-8"))
        tok_cfg = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": model.cfg.seq_len,
            "clean_up_tokenization_spaces": False,  # byte-level BPE decodes exactly; no space fixing
        }
        if eos_id is not None and eos_token is not None:
            tok_json = prepend_token(tok_json, eos_token, eos_id)
            tok_cfg |= {"eos_token": eos_token, "bos_token": eos_token, "pad_token": eos_token}
        if chat_template is not None:
            tok_cfg["chat_template"] = chat_template
        (out / Path(tokenizer_file).name).write_text(
            json.dumps(tok_json, ensure_ascii=False), encoding="utf-8"
        )
        (out / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2, ensure_ascii=False) + "\n")
    return out
