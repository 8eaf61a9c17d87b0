"""Source mixing: the stream of documents a shard build writes, with each source weighed.

A mix (``{"books": 3.0, "forum": 0.5}``, keyed by the corpus ``source`` column; unlisted sources
weigh 1.0) repeats a document ``floor(w)`` times plus once more when a seeded hash of its id falls
below the fraction, and keeps a document of weight < 1 only when that hash falls below ``w``. The
hash, not a random draw, makes the mix the same on every rebuild and resume. Copies are laid out in
passes over the corpus (pass ``r`` holds the documents with more than ``r`` copies), so repeats of
one document are never adjacent, and a copy stays in its document's split.

The stream numbers every place in it (``ordinal``) in a fixed order; the resume markers of
`pipelines.shards.resume` record those numbers to know where a killed build left off.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Real

from garimpo.core import Manifest
from pipelines.corpus_files import corpus_batches
from pipelines.shards.encode import ENCODE_BATCH
from pipelines.shards.split import unit_hash

# Recorded in every shards manifest's config.
MIX_RULE = "copies = floor(w) + (sha256(f'{mix_seed}\\0{id}')[:8] / 2**64 < w - floor(w))"


def check_weight(weight: float, source: str | None = None) -> None:
    """Refuse a mix weight that is not a finite number >= 0 (``source`` names it in the error)."""
    number = isinstance(weight, Real) and not isinstance(weight, bool)
    if not (number and weight >= 0 and math.isfinite(weight)):
        where = f" (source {source!r})" if source is not None else ""
        raise ValueError(f"a mix weight must be a finite number >= 0, got {weight!r}{where}")


def copies(doc_id: str, weight: float, seed: int) -> int:
    """How many times a document of a source with ``weight`` goes into the shards: ``floor(weight)``,
    plus one when a seeded hash of its id falls below the fractional part."""
    check_weight(weight)
    whole = math.floor(weight)
    return whole + int(unit_hash(f"{seed}\0{doc_id}") < weight - whole)


@dataclass
class StreamDoc:
    """One place in the document stream: a corpus document in one pass of the mix."""

    ordinal: int
    id: str
    text: str
    source: str
    split: str
    write: bool  # False only for a document the mix drops: it is counted, never written
    first: bool  # pass 0: counts towards the per-source "before" figures


def document_stream(
    corpus: Manifest, val_ids: set[str], mix: dict[str, float], seed: int
) -> Iterator[list[StreamDoc]]:
    """Batches of the mixed document stream, numbered by ``ordinal`` in a fixed order: pass 0 holds
    every corpus document (those the mix drops marked ``write=False``), pass ``r`` the documents
    with more than ``r`` copies. An empty ``mix`` writes every document once."""
    passes = max([1, *(math.ceil(w) for w in mix.values())])
    ordinal = 0
    for pass_ in range(passes):
        for batch in corpus_batches(corpus, ["id", "text", "source"], batch_size=ENCODE_BATCH):
            docs = []
            for doc_id, text, source in zip(batch["id"], batch["text"], batch["source"], strict=True):
                n = copies(doc_id, mix.get(source, 1.0), seed) if mix else 1
                if pass_ == 0 or n > pass_:
                    split = "val" if doc_id in val_ids else "train"
                    docs.append(StreamDoc(ordinal, doc_id, text or "", source, split, n > pass_, pass_ == 0))
                    ordinal += 1
            if docs:
                yield docs
