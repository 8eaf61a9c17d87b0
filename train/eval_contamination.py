"""Contamination: how much of each eval item occurs, word n-gram for word n-gram, in training text.

A score on items the model trained on measures memory, not skill, and a held-out set that leaked
into the training data makes an ablation meaningless. Each item's word ``n``-grams (lowercased
``\\w+`` words, 13 by default as in GPT-3's decontamination) are collected first, then the training
texts are streamed once and every training n-gram is looked up in that set, so memory grows with the
eval items, not with the corpus. An item's overlap is the share of its n-grams found; items at or
above ``threshold`` are listed. Items shorter than ``n`` words are compared whole (their one n-gram
is all their words) so they cannot slip through.

``training_texts`` decodes the train split of every shards version a checkpoint names, with each
version's own tokenizer, so the check sees exactly the documents the run trained on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from garimpo.core import ArtifactError, ArtifactStore
from garimpo.core.formats import read_documents
from train.tokenizer import Tokenizer

_WORD = re.compile(r"\w+", re.UNICODE)


def _grams(text: str, n: int) -> set[int]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {hash(tuple(words))} if words else set()
    return {hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1)}


def overlap(items: dict[str, str], training: Iterable[str], n: int = 13, threshold: float = 0.5) -> dict:
    """``{"items", "contaminated": [{"id", "overlap"}], "max_overlap", "ngram", "threshold", "documents_scanned"}``.

    ``items`` maps an item id to its text; ``training`` is any iterable of training documents.
    """
    per_item = {key: _grams(text, n) for key, text in items.items()}
    wanted: set[int] = set().union(*per_item.values()) if per_item else set()
    lengths = {n} | {len(w) for w in (_WORD.findall(t.lower()) for t in items.values()) if 0 < len(w) < n}
    found: set[int] = set()
    scanned = 0
    for doc in training:
        scanned += 1
        words = _WORD.findall(doc.lower())
        for k in lengths:
            for i in range(len(words) - k + 1):
                h = hash(tuple(words[i : i + k]))
                if h in wanted:
                    found.add(h)
    scores = {key: (len(g & found) / len(g) if g else 0.0) for key, g in per_item.items()}
    listed = sorted(
        ({"id": key, "overlap": round(v, 4)} for key, v in scores.items() if v >= threshold),
        key=lambda d: (-d["overlap"], d["id"]),
    )
    return {
        "items": len(items),
        "contaminated": listed,
        "max_overlap": round(max(scores.values()), 4) if scores else None,
        "ngram": n,
        "threshold": threshold,
        "documents_scanned": scanned,
    }


def training_texts(lineage: dict, artifacts_root: str) -> Iterator[str]:
    """Every train document of the shards versions in ``lineage["shards"]``, decoded to text."""
    store = ArtifactStore(artifacts_root)
    for ref in lineage.get("shards", []):
        try:
            manifest = store.load_ref(ref)
        except ArtifactError as e:
            raise ArtifactError(f"cannot check contamination: {e}") from e
        tok = Tokenizer(manifest.path_of(manifest.extra["tokenizer_file"]))
        for ids in read_documents(manifest, "train"):
            yield tok.decode(ids, skip_special_tokens=True)
