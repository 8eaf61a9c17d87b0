"""Validation: loss and bits per byte per source on fixed windows, and greedy samples of fixed prompts.

Each source of the ``val`` split (``text``, ``instruct``) gets its own fixed windows, spread evenly
over its files, so a number compares across steps and across runs on the same shards. Loss masks are
honoured: an instruct window counts only its answer tokens, as in training.

Bits per byte = nats / (ln 2 * bytes) summed over the kept targets that stand for text. A token's
byte count is the length of its bytes in the run's ``tokenizer.json`` vocabulary (byte-level BPE, so
this is exact: the UTF-8 bytes of the NFC-normalized text the token encodes); special tokens count 0
bytes and are left out of both sums, as nanochat's ``evaluate_bpb`` does. Unlike loss per token, bpb
does not change with the vocabulary, so runs with different tokenizers compare.
"""

from __future__ import annotations

import math

import torch

from garimpo.core import Manifest
from garimpo.core.formats import EOS_TOKEN, sources
from model.gpt import GPT
from train.data import Batch, TokenStream, eval_batches
from train.device import autocast
from train.tokenizer import Tokenizer


def val_sets(manifest: Manifest, n_windows: int, batch_size: int, seq_len: int) -> dict[str, list[Batch]]:
    """Fixed validation batches per source of the ``val`` split (sources without a window left out)."""
    found = {}
    for source in sources(manifest, "val"):
        batches = eval_batches(TokenStream(manifest, "val", source), n_windows, batch_size, seq_len)
        if batches:
            found[source] = batches
    return found


@torch.no_grad()
def evaluate(
    model: GPT,
    sets: dict[str, list[Batch]],
    token_bytes: torch.Tensor | None,
    device: torch.device,
    precision: str,
) -> dict:
    """``{"loss", "bpb", "sources": {source: {"loss", "bpb", "tokens"}}}``; loss None without targets.

    ``loss`` and ``bpb`` pool every source. ``bpb`` is None without ``token_bytes`` (no tokenizer).
    """
    was_training = model.training
    model.eval()
    per_source, pooled = {}, torch.zeros(4, dtype=torch.float64)  # nats, targets, text nats, bytes
    for source, batches in sets.items():
        sums = torch.zeros(4, dtype=torch.float64)
        for batch in batches:
            b = batch.to(device)
            with autocast(device, precision):
                nats = model.token_losses(b.x, b.y).flatten()  # chunked: no [B, T, vocab] fp32 logits
            keep = b.loss_mask.flatten()
            sums[0] += float(nats[keep].double().sum())
            sums[1] += int(keep.sum())
            if token_bytes is not None:
                nbytes = token_bytes.to(device)[b.y.flatten()] * keep
                sums[2] += float(nats[nbytes > 0].double().sum())
                sums[3] += int(nbytes.sum())
        per_source[source] = _summary(sums, token_bytes is not None)
        pooled += sums
    model.train(was_training)
    return {**_summary(pooled, token_bytes is not None), "sources": per_source}


def _summary(sums: torch.Tensor, has_bytes: bool) -> dict:
    nats, targets, text_nats, nbytes = sums.tolist()
    return {
        "loss": nats / targets if targets else None,
        "bpb": text_nats / (math.log(2) * nbytes) if has_bytes and nbytes else None,
        "tokens": int(targets),
    }


def token_byte_table(tokenizer: Tokenizer, vocab_size: int) -> torch.Tensor:
    """``[vocab_size]`` int64 byte length of every id (0 for special tokens)."""
    return torch.tensor(tokenizer.byte_lengths(vocab_size), dtype=torch.int64)


@torch.no_grad()
def greedy_samples(model: GPT, tokenizer: Tokenizer, prompts: list[str], max_new_tokens: int) -> list[dict]:
    """Greedy continuations of fixed prompts (no randomness, so training's RNG streams are untouched)."""
    eos = tokenizer.token_to_id(EOS_TOKEN)
    was_training = model.training
    model.eval()
    out = []
    for prompt in prompts:
        ids = [eos, *tokenizer.encode(prompt)][: model.cfg.seq_len - max_new_tokens]
        new = model.generate(ids, max_new_tokens, temperature=0, stop_token=eos)
        out.append({"prompt": prompt, "text": tokenizer.decode(new, skip_special_tokens=True)})
    model.train(was_training)
    return out
