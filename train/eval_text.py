"""Held-out text for evaluation: named sets of documents, their fingerprints, and bits per byte on them.

A model is judged on text it never trained on, and two models with different tokenizers must get
comparable numbers. So an eval set is plain text (not tokens): a JSONL file, the documents of a
shards split decoded back to text, or any list of strings the caller read (the CLI and the flows read
corpus versions and Parquet files with the curation readers and pass the texts in). Each model
encodes the texts with its own tokenizer.

Bits per byte reuses ``train.evaluate.evaluate``: the documents are laid end to end as in the shards
(``<|endoftext|>`` before each one), cut into non-overlapping windows of the model's ``seq_len`` so
every token is predicted exactly once, and the summed nats are divided by ``ln 2`` times the UTF-8
bytes the predicted tokens stand for, which is the byte length of the NFC text whatever the
vocabulary.

A set's ``fingerprint`` is the sha256 of its texts, so an eval result names exactly what it measured.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from garimpo.core import Manifest
from garimpo.core.formats import EOS_TOKEN, read_documents
from train.data import Batch
from train.evaluate import evaluate, token_byte_table
from train.tokenizer import Tokenizer


@dataclass
class TextSet:
    """Documents of one held-out set, where they came from, and what was skipped while reading them."""

    name: str
    texts: list[str]
    origin: str
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
        return digest.hexdigest()

    def describe(self) -> dict:
        """What a result records about the set (its lineage)."""
        return {
            "origin": self.origin,
            "documents": len(self.texts),
            "bytes": sum(len(t.encode("utf-8", "surrogatepass")) for t in self.texts),
            "sha256": self.fingerprint,
            "rejected": dict(self.rejected),
        }


def jsonl_set(name: str, path: str | Path, text_field: str = "text") -> TextSet:
    """The non-empty ``text_field`` of every JSON line of ``path``; bad lines are counted, not raised."""
    path = Path(path)
    texts: list[str] = []
    rejected: dict[str, int] = {}
    with path.open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            reason = None
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                reason = "not a JSON line"
            else:
                value = record.get(text_field) if isinstance(record, dict) else None
                if not isinstance(value, str) or not value.strip():
                    reason = f"no {text_field!r} text"
                else:
                    texts.append(value)
            if reason:
                rejected[reason] = rejected.get(reason, 0) + 1
    return TextSet(name, texts, str(path), rejected)


def shards_set(name: str, manifest: Manifest, split: str = "val", source: str | None = "text") -> TextSet:
    """The documents of a shards split, decoded with the shards' own tokenizer (special tokens dropped)."""
    tok = Tokenizer(manifest.path_of(manifest.extra["tokenizer_file"]))
    texts = [tok.decode(ids, skip_special_tokens=True) for ids in read_documents(manifest, split, source)]
    return TextSet(name, [t for t in texts if t.strip()], f"{manifest.ref}:{split}")


def text_batches(
    texts: Iterable[str], tokenizer: Tokenizer, seq_len: int, batch_size: int, max_tokens: int = 0
) -> list[Batch]:
    """Non-overlapping windows over ``<eos> doc <eos> doc ...``; the last one is padded and masked.

    ``max_tokens`` (0 = no limit) stops adding documents once that many tokens are laid out.
    """
    eos = tokenizer.token_to_id(EOS_TOKEN)
    if eos is None:
        raise ValueError(f"{tokenizer.path} has no {EOS_TOKEN} token")
    ids: list[int] = []
    for text in texts:
        ids += [eos, *tokenizer.encode(text)]
        if max_tokens and len(ids) >= max_tokens:
            break
    ids.append(eos)
    stream = np.asarray(ids, dtype=np.int64)
    windows = []
    for start in range(0, len(stream) - 1, seq_len):
        chunk = stream[start : start + seq_len + 1]
        n = len(chunk) - 1
        x, y, keep = np.zeros(seq_len, np.int64), np.zeros(seq_len, np.int64), np.zeros(seq_len, bool)
        x[:n], y[:n], keep[:n] = chunk[:-1], chunk[1:], True
        windows.append((x, y, keep))
    return [
        Batch(*(torch.from_numpy(np.stack(part)) for part in zip(*windows[i : i + batch_size], strict=True)))
        for i in range(0, len(windows), batch_size)
    ]


def heldout_bpb(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    sets: list[TextSet],
    seq_len: int,
    device: torch.device,
    batch_size: int = 8,
    max_tokens: int = 0,
    precision: str = "fp32",
) -> dict[str, dict]:
    """``{set name: {"bpb", "loss", "tokens", "bytes"}}`` for a model with ``token_losses``."""
    table = token_byte_table(tokenizer, tokenizer.vocab_size)
    out = {}
    for s in sets:
        batches = text_batches(s.texts, tokenizer, seq_len, batch_size, max_tokens)
        result = evaluate(model, {s.name: batches}, table, device, precision)
        nbytes = sum(int(table[b.y[b.loss_mask]].sum()) for b in batches)
        out[s.name] = {
            "bpb": result["bpb"],
            "loss": result["loss"],
            "tokens": result["tokens"],
            "bytes": nbytes,
        }
    return out
