"""The garimpo language model: a Llama-style decoder in one readable file.

Shape of the network (the Llama recipe, so a checkpoint exports to Hugging Face ``LlamaForCausalLM``
by renaming keys, with no weight surgery):

- token embedding, tied to the output head (one matrix, counted once);
- ``n_layer`` pre-norm blocks: RMSNorm -> grouped-query attention with rotary position embeddings
  (RoPE) -> residual, RMSNorm -> SwiGLU MLP -> residual;
- a final RMSNorm and the (tied) head. No biases anywhere.

RoPE uses the Hugging Face ``rotate_half`` convention (each head's dimensions split into two halves,
``cos``/``sin`` tables repeated over both halves). Meta's original checkpoints pair adjacent dimensions
instead, which is why converters permute q/k rows; matching HF exactly makes export a pure rename.
Parameter names follow HF (``self_attn.q_proj``, ``mlp.gate_proj``, ``input_layernorm``...) for the
same reason.

Attention runs through ``F.scaled_dot_product_attention`` (flash/memory-efficient kernels on GPU).
Generation (``model.generate``) keeps a key/value cache so each new token costs one position of
compute; a test checks that greedy decoding with the cache equals decoding without it, token for
token. The loss goes through ``model.loss.linear_cross_entropy``, which never holds the fp32
``[B, T, vocab]`` log-probs; ``checkpointing = True`` recomputes each block in backward instead of
keeping its activations (``torch.utils.checkpoint``), trading ~1/3 more compute for memory.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from model.generate import KVCache, generate_batch
from model.loss import linear_cross_entropy, token_nats


@dataclass(frozen=True)
class GPTConfig:
    """Every number that defines the network; saved as JSON inside each checkpoint."""

    vocab_size: int = 32768
    n_layer: int = 20
    n_head: int = 16
    n_kv_head: int = 4
    n_embd: int = 1024
    seq_len: int = 1024  # longest context: size of the RoPE tables and the KV cache
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    ffn_hidden: int | None = None  # None: 8/3 * n_embd rounded up to multiple_of (the Llama rule)
    multiple_of: int = 256

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_head {self.n_head} is not a multiple of n_kv_head {self.n_kv_head}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def hidden_dim(self) -> int:
        if self.ffn_hidden is not None:
            return self.ffn_hidden
        hidden = int(8 * self.n_embd / 3)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> GPTConfig:
        """A named size (``tiny``, ``small``, ``portulino``) with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}")
        return cls.from_dict({**PRESETS[name].to_dict(), **overrides})


PRESETS: dict[str, GPTConfig] = {
    # for tests and smoke runs: a few hundred thousand parameters at a small vocabulary
    "tiny": GPTConfig(
        vocab_size=512, n_layer=2, n_head=4, n_kv_head=2, n_embd=64, seq_len=128, multiple_of=32
    ),
    # ~36M parameters at a 32k vocabulary (17M of them the embedding): trains on a laptop or a T4
    "small": GPTConfig(vocab_size=32768, n_layer=6, n_head=8, n_kv_head=4, n_embd=512, seq_len=512),
    # the reference Portuguese model: ~258M parameters at a 32k vocabulary
    "portulino": GPTConfig(vocab_size=32768, n_layer=20, n_head=16, n_kv_head=4, n_embd=1024, seq_len=1024),
}


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain, computed in fp32 like HF Llama (stable under bf16)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rope_tables(head_dim: int, seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables ``[seq_len, head_dim]`` in the rotate_half layout (frequencies repeated)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().float(), emb.sin().float()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x [B, H, T, D]`` by position; ``cos``/``sin`` are ``[T, D]`` for those positions."""
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


class Attention(nn.Module):
    """Causal grouped-query self-attention: ``n_head`` query heads share ``n_kv_head`` key/value heads."""

    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.n_head, self.n_kv_head, self.head_dim = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        self.q_proj = nn.Linear(cfg.n_embd, cfg.n_head * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.n_embd, cfg.n_kv_head * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.n_embd, cfg.n_kv_head * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_head * cfg.head_dim, cfg.n_embd, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)
        # KV head j serves query heads j*rep .. (j+1)*rep-1: the layout of HF's repeat_kv
        rep = self.n_head // self.n_kv_head
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if mask is not None:  # made once per forward by the cache (padding, or a later prefill chunk)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:  # training, a first prefill chunk, or one new query that may see every cached key
            y = F.scaled_dot_product_attention(q, k, v, is_causal=k.size(2) == T and T > 1)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    """SwiGLU feed-forward: ``down(silu(gate(x)) * up(x))``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.n_embd, cfg.hidden_dim, bias=False)
        self.up_proj = nn.Linear(cfg.n_embd, cfg.hidden_dim, bias=False)
        self.down_proj = nn.Linear(cfg.hidden_dim, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    """One pre-norm transformer layer."""

    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.self_attn = Attention(cfg, layer)
        self.post_attention_layernorm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = x + self.self_attn(_low(self.input_layernorm(x)), cos, sin, cache, mask)
        return x + self.mlp(_low(self.post_attention_layernorm(x)))


def _low(h: torch.Tensor) -> torch.Tensor:
    """``h`` in the autocast dtype: cast once here, not once per projection that reads it."""
    if torch.is_autocast_enabled(h.device.type):
        return h.to(torch.get_autocast_dtype(h.device.type))
    return h


class GPT(nn.Module):
    """The decoder: embeddings, ``n_layer`` blocks, final norm, tied output head."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.embed_tokens.weight  # tied: one matrix reads and writes tokens
        cos, sin = rope_tables(cfg.head_dim, cfg.seq_len, cfg.rope_theta)
        # not persistent: derived from the config, so checkpoints hold only learned weights
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.checkpointing = False  # recompute each block in backward (set by the trainer)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Normal(0, 0.02) weights; residual output projections scaled by 1/sqrt(2*n_layer) (GPT-2).

        The scaled projections keep the residual stream's variance flat with depth, and with the
        small tied embedding they make the step-0 logits nearly uniform, so the first loss is close
        to ln(vocab_size) instead of starting with large, confidently wrong predictions.
        """
        std = 0.02
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "norm.weight":
                nn.init.ones_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=std / math.sqrt(2 * self.cfg.n_layer))
            else:
                nn.init.normal_(p, mean=0.0, std=std)

    def num_params(self) -> int:
        """Parameters counted once (the tied embedding/head matrix is one tensor)."""
        return sum(p.numel() for p in self.parameters())

    def hidden(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Final-norm hidden states ``[B, T, n_embd]``: what the head turns into logits."""
        T = idx.size(1)
        start = cache.pos if cache is not None else 0
        if start + T > self.cfg.seq_len:
            raise ValueError(f"sequence of {start + T} tokens exceeds seq_len {self.cfg.seq_len}")
        mask = None
        if cache is None:
            cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        else:
            pos = cache.positions(T)  # [T], or [B, T] for left-padded rows
            cos, sin = self.rope_cos[pos], self.rope_sin[pos]
            if pos.dim() == 2:
                cos, sin = cos[:, None], sin[:, None]
            mask = cache.mask(T)
        x = self.embed_tokens(idx)
        recompute = self.checkpointing and self.training and torch.is_grad_enabled() and cache is None
        for block in self.layers:
            if recompute:
                x = checkpoint(block, x, cos, sin, use_reentrant=False)
            else:
                x = block(x, cos, sin, cache, mask)
        if cache is not None:
            cache.pos += T
        return self.norm(x)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(logits [B, T, vocab], None)``, or with ``targets`` ``(None, mean cross-entropy)``.

        With targets no logits are returned: the loss is computed chunk by chunk
        (``model.loss``) so the ``[B, T, vocab]`` tensor never exists. ``loss_mask`` (same shape as
        ``targets``, nonzero = train on it) drops positions such as prompts in instruction data.
        With no kept position the loss is 0, never NaN, so a fully masked micro-batch adds nothing
        to an accumulated gradient.
        """
        h = self.hidden(idx, cache)
        if targets is None:
            return self.lm_head(h), None
        n = targets.numel()
        if loss_mask is None:
            weights = torch.full((n,), 1.0 / n, device=h.device)
        else:
            keep = loss_mask.reshape(-1).float()
            weights = keep / keep.sum().clamp(min=1.0)
        loss = linear_cross_entropy(h.reshape(n, -1), self.lm_head.weight, targets.reshape(-1), weights)
        return None, loss

    def token_losses(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-position cross-entropy ``[B, T]`` in nats (fp32), without the full logits; no gradient."""
        with torch.no_grad():
            h = self.hidden(idx)
            return token_nats(h.flatten(0, 1), self.lm_head.weight, targets.flatten()).view_as(targets)

    def generate(self, prompt: list[int], max_new_tokens: int, **options: Any) -> list[int]:
        """Continue ``prompt`` by up to ``max_new_tokens`` tokens; returns only the new tokens.

        ``options`` are those of ``model.generate.generate_batch``: ``temperature`` (``<= 0`` is
        greedy), ``top_k``, ``top_p``, ``stop_token`` (one id or several), ``seed`` (the same seed
        gives the same text, None a fresh draw) and ``use_cache=False``, which recomputes the whole
        context each step (the reference the cache is tested against).
        """
        return generate_batch(self, [prompt], max_new_tokens, **options)[0]

    def generate_batch(
        self, prompts: list[list[int]], max_new_tokens: int, **options: Any
    ) -> list[list[int]]:
        """Several prompts decoded together (left-padded, one KV cache); see ``model.generate``."""
        return generate_batch(self, prompts, max_new_tokens, **options)
