"""The train/val split of shard building: a hash of the document id, never its position.

A split decided by position would move documents between train and val whenever the corpus grows,
the worker count changes or a build resumes; a hash of the id does not depend on any of that, and a
document (or a conversation) can never land in both splits. The same unit hash, salted with a seed,
decides the fractional copies of source mixing (`pipelines.shards.mix`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from numbers import Real

SPLIT_RULE = "sha256(id)[:8] / 2**64 < val_fraction"  # recorded in every shards manifest's config


def unit_hash(key: str) -> float:
    """A stable number in [0, 1) from a string; for a document id, below ``val_fraction`` means val."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64


def check_val_fraction(val_fraction: float) -> None:
    """Refuse a validation share outside [0, 1): with 1.0 nothing would be left to train on."""
    number = isinstance(val_fraction, Real) and not isinstance(val_fraction, bool)
    if not (number and math.isfinite(val_fraction) and 0.0 <= val_fraction < 1.0):
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")


def validation_ids(doc_ids: Iterable[str], val_fraction: float) -> set[str]:
    """The ids that go to ``val``: those hashing below ``val_fraction``.

    With two or more distinct ids both splits are non-empty: if no id falls below the fraction the
    lowest-hashing one moves to val, and if all do, the highest-hashing one stays in train.
    """
    check_val_fraction(val_fraction)
    val: set[str] = set()
    lowest: tuple[float, str] | None = None
    highest: tuple[float, str] | None = None
    distinct: set[str] = set()
    for doc_id in doc_ids:
        h = (unit_hash(doc_id), doc_id)
        lowest = h if lowest is None or h < lowest else lowest
        highest = h if highest is None or h > highest else highest
        if h[0] < val_fraction:
            val.add(doc_id)
        if len(distinct) < 2:
            distinct.add(doc_id)
    if len(distinct) >= 2 and lowest and highest:
        if not val:
            val.add(lowest[1])
        if highest[0] < val_fraction:
            val.discard(highest[1])
    return val
