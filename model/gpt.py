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
Generation keeps a key/value cache so each new token costs one position of compute; a test checks
that greedy decoding with the cache equals decoding without it, token for token.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


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


class KVCache:
    """Preallocated keys and values for every layer, filled left to right during generation."""

    def __init__(
        self, cfg: GPTConfig, batch: int, max_len: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        shape = (cfg.n_layer, batch, cfg.n_kv_head, max_len, cfg.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # tokens already stored; advanced by GPT.forward once every layer has written

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.pos + k.size(2)
        if end > self.k.size(3):
            raise ValueError(f"KV cache full: {end} positions needed, {self.k.size(3)} allocated")
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


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
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None
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
        S = k.size(2)
        if S == T:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            # new queries sit at positions S-T .. S-1 and may see every cached key up to their own
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=S - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
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
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


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

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``[B, T, vocab]`` and, with ``targets``, the mean cross-entropy over kept positions.

        ``loss_mask`` (same shape as ``targets``, nonzero = train on it) drops positions such as
        prompts in instruction data. With no kept position the loss is 0, never NaN, so a fully
        masked micro-batch adds nothing to an accumulated gradient.
        """
        T = idx.size(1)
        start = cache.pos if cache is not None else 0
        if start + T > self.cfg.seq_len:
            raise ValueError(f"sequence of {start + T} tokens exceeds seq_len {self.cfg.seq_len}")
        cos, sin = self.rope_cos[start : start + T], self.rope_sin[start : start + T]
        x = self.embed_tokens(idx)
        for block in self.layers:
            x = block(x, cos, sin, cache)
        if cache is not None:
            cache.pos += T
        logits = self.lm_head(self.norm(x))
        if targets is None:
            return logits, None
        # cross-entropy in fp32: bf16/fp16 logits lose the small differences that matter at 32k classes
        per_token = F.cross_entropy(
            logits.float().view(-1, logits.size(-1)), targets.reshape(-1), reduction="none"
        )
        if loss_mask is None:
            return logits, per_token.mean()
        keep = loss_mask.reshape(-1).to(per_token.dtype)
        return logits, (per_token * keep).sum() / keep.sum().clamp(min=1.0)

    @torch.no_grad()
    def generate(
        self,
        prompt: list[int],
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        stop_token: int | Collection[int] | None = None,
        seed: int | None = None,
        use_cache: bool = True,
    ) -> list[int]:
        """Continue ``prompt`` by up to ``max_new_tokens`` tokens; returns only the new tokens.

        ``temperature <= 0`` is greedy. ``top_k`` keeps the k likeliest tokens, ``top_p`` the smallest
        set whose probability reaches p. Sampling draws from a ``torch.Generator`` seeded with
        ``seed``, so the same seed gives the same text. Generation stops after ``stop_token`` (one id
        or several).
        ``use_cache=False`` recomputes the whole context each step (the reference the cache is
        tested against).
        """
        if not prompt:
            raise ValueError("generate needs a non-empty prompt (start it with <|endoftext|> for none)")
        if len(prompt) + max_new_tokens > self.cfg.seq_len:
            raise ValueError(
                f"prompt of {len(prompt)} tokens + {max_new_tokens} new exceeds seq_len {self.cfg.seq_len}"
            )
        device = self.embed_tokens.weight.device
        gen = torch.Generator(device=device)
        if seed is not None:
            gen.manual_seed(seed)
        ids = torch.tensor([prompt], dtype=torch.long, device=device)
        stops = {stop_token} if isinstance(stop_token, int) else set(stop_token or ())
        cache = None
        if use_cache:
            cache = KVCache(self.cfg, 1, len(prompt) + max_new_tokens, device, self.embed_tokens.weight.dtype)
        out: list[int] = []
        step_input = ids
        for _ in range(max_new_tokens):
            logits, _ = self(step_input if use_cache else ids, cache=cache)
            nxt = sample_next(logits[0, -1].float(), temperature, top_k, top_p, gen)
            out.append(nxt)
            if nxt in stops:
                break
            step_input = torch.tensor([[nxt]], dtype=torch.long, device=device)
            ids = torch.cat((ids, step_input), dim=1)
        return out


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    gen: torch.Generator,
) -> int:
    """Pick one token id from ``logits [vocab]``."""
    if temperature <= 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token once the mass before it already reaches top_p (the first token always stays)
        drop = (cum - sorted_logits.softmax(-1)) >= top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    probs = logits.softmax(-1)
    return int(torch.multinomial(probs, 1, generator=gen))
