"""Decoding: the key/value cache, next-token sampling and the batched generation loop.

Prompts of different lengths decode together, left-padded. Each row's positions start at its own
first real token (the cache keeps a per-row offset), so a padded row gets exactly the rotary angles
it would get alone, and a boolean key mask hides the padding. Masks are made once per generation: the
prefill builds its causal-and-padding mask once, and every decode step slices a view of the key
mask, or passes none at all when no row is padded (one query may see every cached key).

Sampling: ``temperature <= 0`` is greedy; ``top_k`` keeps the k likeliest tokens (0 or None: all);
``top_p`` keeps the smallest set whose probability reaches p, always at least the likeliest token
(so ``top_p = 0`` is greedy, never NaN); ``seed=None`` draws a fresh seed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from model.gpt import GPT, GPTConfig


class KVCache:
    """Preallocated keys and values for every layer, filled left to right during generation.

    ``pad`` (one count per row) marks left padding: those key positions are masked and each row's
    rotary positions start after its padding.
    """

    def __init__(
        self,
        cfg: GPTConfig,
        batch: int,
        max_len: int,
        device: torch.device,
        dtype: torch.dtype,
        pad: list[int] | None = None,
    ) -> None:
        shape = (cfg.n_layer, batch, cfg.n_kv_head, max_len, cfg.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # tokens already stored; advanced by GPT.forward once every layer has written
        self.offsets: torch.Tensor | None = None
        self.valid: torch.Tensor | None = None  # [B, 1, 1, max_len] True = a real key
        if pad is not None and any(pad):
            self.offsets = torch.tensor(pad, device=device)[:, None]
            self.valid = (torch.arange(max_len, device=device)[None, :] >= self.offsets)[:, None, None, :]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.pos + k.size(2)
        if end > self.k.size(3):
            raise ValueError(f"KV cache full: {end} positions needed, {self.k.size(3)} allocated")
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def positions(self, T: int) -> torch.Tensor:
        """Rotary positions of the next ``T`` tokens: ``[T]``, or ``[B, T]`` with padding."""
        pos = torch.arange(self.pos, self.pos + T, device=self.k.device)
        if self.offsets is None:
            return pos
        return (pos[None, :] - self.offsets).clamp(min=0)

    def mask(self, T: int) -> torch.Tensor | None:
        """Attention mask of the next ``T`` queries, or None when plain causal attention is right."""
        end = self.pos + T
        if self.valid is None:
            if T == 1 or self.pos == 0:
                return None  # one new query sees every key; a first chunk is plain causal
            return torch.ones(T, end, dtype=torch.bool, device=self.k.device).tril(diagonal=self.pos)
        keys = self.valid[..., :end]
        if T == 1:
            return keys  # a view: nothing is rebuilt per decode step
        causal = torch.ones(T, end, dtype=torch.bool, device=self.k.device).tril(diagonal=self.pos)
        # a padding query sees itself, so its (ignored) output stays finite instead of NaN
        own = torch.zeros(T, end, dtype=torch.bool, device=self.k.device)
        own[:, self.pos : end] = torch.eye(T, dtype=torch.bool, device=self.k.device)
        return causal & (keys | own)


def sample_next(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    gen: torch.Generator,
) -> torch.Tensor:
    """One token id per row of ``logits [B, vocab]`` (a ``[B]`` long tensor)."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        # drop a token once the mass before it already reaches top_p; the likeliest always stays
        drop = (probs.cumsum(-1) - probs) >= top_p
        drop[..., 0] = False
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=gen).squeeze(-1)


def _generator(device: torch.device, seed: int | None) -> torch.Generator:
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


def _cache_dtype(model: GPT) -> torch.dtype:
    kind = model.embed_tokens.weight.device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return model.embed_tokens.weight.dtype


@torch.no_grad()
def generate_batch(
    model: GPT,
    prompts: list[list[int]],
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_token: int | Collection[int] | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> list[list[int]]:
    """Continue each prompt by up to ``max_new_tokens`` tokens; returns only the new tokens per prompt.

    A row stops after a ``stop_token`` (one id or several); the loop ends when every row has.
    ``use_cache=False`` recomputes each prompt's whole context every step, one prompt at a time (the
    reference the batched cache is tested against).
    """
    if not prompts or any(not p for p in prompts):
        raise ValueError("generate needs non-empty prompts (start one with <|endoftext|> for none)")
    longest = max(len(p) for p in prompts)
    if longest + max_new_tokens > model.cfg.seq_len:
        raise ValueError(
            f"prompt of {longest} tokens + {max_new_tokens} new exceeds seq_len {model.cfg.seq_len}"
        )
    stops = {stop_token} if isinstance(stop_token, int) else set(stop_token or ())
    device = model.embed_tokens.weight.device
    gen = _generator(device, seed)
    if not use_cache:
        return [
            _generate_uncached(model, p, max_new_tokens, temperature, top_k, top_p, stops, gen)
            for p in prompts
        ]
    pad = [longest - len(p) for p in prompts]
    ids = torch.tensor([[0] * n + p for n, p in zip(pad, prompts, strict=True)], device=device)
    cache = KVCache(model.cfg, len(prompts), longest + max_new_tokens, device, _cache_dtype(model), pad)
    stop_ids = torch.tensor(sorted(stops), device=device, dtype=torch.long)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    out = []
    step_input = ids
    for _ in range(max_new_tokens):
        logits, _ = model(step_input, cache=cache)
        nxt = sample_next(logits[:, -1], temperature, top_k, top_p, gen)
        out.append(torch.where(done, -1, nxt))
        done |= torch.isin(nxt, stop_ids)
        if bool(done.all()):
            break
        step_input = nxt[:, None]
    rows = torch.stack(out, dim=1).tolist() if out else [[] for _ in prompts]
    return [[t for t in row if t >= 0] for row in rows]


def _generate_uncached(
    model: GPT,
    prompt: list[int],
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    stops: set[int],
    gen: torch.Generator,
) -> list[int]:
    ids = torch.tensor([prompt], dtype=torch.long, device=model.embed_tokens.weight.device)
    out: list[int] = []
    for _ in range(max_new_tokens):
        logits, _ = model(ids)
        nxt = int(sample_next(logits[:, -1], temperature, top_k, top_p, gen)[0])
        out.append(nxt)
        if nxt in stops:
            break
        ids = torch.cat((ids, torch.tensor([[nxt]], device=ids.device)), dim=1)
    return out
