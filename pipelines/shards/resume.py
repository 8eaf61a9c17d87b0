"""The text shards of a build, written into a work folder that a killed build resumes from.

Text shards are written into a work folder under the store (``.work/shards/<key>``, the key a hash
of corpus, tokenizer and every setting that decides the shards' bytes), so a rebuild with the same
inputs finds the work of a killed one and a rebuild with other inputs never does. Every finished
shard gets a completion marker recording where in the document stream (`pipelines.shards.mix`) the
next shard starts, so a killed build resumes after its last finished shard and ends byte-identical to
an uninterrupted one. A marker is written atomically and only after its shard's files are on disk, so
a marker always describes complete files; shard files without a marker are deleted on resume.

Token ids of every document text go to a ``TokenCache`` (``.cache/tokens``), so a rebuild after the
corpus changed encodes only the changed documents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from garimpo.core import ArtifactStore, Manifest
from garimpo.core.formats import EOS_TOKEN, SHARD_SUFFIX, SPLITS, TOKEN_DTYPE, ShardWriter
from garimpo.core.fs import claim_folder, write_json_atomic
from garimpo.core.store import WORK_DIR
from pipelines.shards.encode import encoded
from pipelines.shards.mix import StreamDoc, document_stream
from pipelines.shards.settings import ShardSettings
from pipelines.tokenizer import TokenCache

WORK_FORMAT = 1  # bump when the work folder's layout or the text shard bytes change
MARKER_SUFFIX = ".json"  # done/train_00003.ds.json marks files/train_00003.ds (+ .index) finished
# A batch of the stream as it goes to encoding: its documents, their text hashes, the ids the cache had.
_Batch = tuple[list[StreamDoc], list[bytes], dict[bytes, np.ndarray]]


def shard_work_key(corpus: Manifest, tokenizer_sha256: str, settings: ShardSettings) -> str:
    """The work folder's name: everything that decides the text shards' bytes, hashed."""
    decisive = {
        "format": WORK_FORMAT,
        "corpus": corpus.fingerprint,
        "tokenizer": tokenizer_sha256,
        "val_fraction": settings.val_fraction,
        "max_tokens_per_shard": settings.max_tokens_per_shard,
        "mix": settings.recorded_mix,
        "mix_seed": settings.mix_seed,
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:24]


def claim_work(
    store: ArtifactStore, corpus: Manifest, tokenizer_sha256: str, settings: ShardSettings
) -> Path:
    """The work folder of this build, made ours; ``ArtifactError`` when another live build uses it."""
    work = store.root / WORK_DIR / "shards" / shard_work_key(corpus, tokenizer_sha256, settings)
    claim_folder(work)
    return work


def empty_source_counts() -> dict[str, int]:
    return {"documents_before": 0, "tokens_before": 0, "documents_after": 0, "tokens_after": 0}


def add_counts(total: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    """Add per-source counts ``more`` into ``total``."""
    for source, c in more.items():
        into = total.setdefault(source, empty_source_counts())
        for key, value in c.items():
            into[key] += value


class _ResumableSplit:
    """The text shards of one split in a work folder, with a completion marker per finished shard.

    A marker (``done/<shard>.json``) is written only after the shard's files are fsynced; it holds the
    shard's manifest counts, the per-source counts of the documents it accounts for, and ``next``, the
    ordinal of the first stream document after it. Resuming reads the markers, deletes any unmarked
    shard files and skips every document of this split before ``next``.
    """

    def __init__(self, work: Path, split: str, max_tokens_per_shard: int) -> None:
        self.split = split
        self.files = work / "files"
        self.done = work / "done"
        self.files.mkdir(parents=True, exist_ok=True)
        self.done.mkdir(parents=True, exist_ok=True)
        self.counts: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, int]] = {}
        self.next = 0
        end = self.done / f"{split}.end{MARKER_SUFFIX}"
        self.finished = end.is_file()
        number = 0
        while (marker := self.done / f"{split}_{number:05d}{SHARD_SUFFIX}{MARKER_SUFFIX}").is_file():
            self._absorb(json.loads(marker.read_text()))
            number += 1
        if self.finished:
            self._absorb(json.loads(end.read_text()))
        self.resumed_shards = number
        for stale in self.files.glob(f"{split}_*"):
            if int(stale.name[len(split) + 1 :].split(".")[0]) >= number:
                stale.unlink()
        self.writer = ShardWriter(self.files, split, max_tokens_per_shard, first_number=number)
        self._pending: dict[str, dict[str, int]] = {}

    def _absorb(self, marker: dict[str, Any]) -> None:
        self.counts.update(marker["counts"])
        add_counts(self.sources, marker["sources"])
        self.next = marker["next"]

    def add(self, doc: StreamDoc, tokens: np.ndarray) -> str | None:
        """Account for one stream document (its EOS included) and write it unless the mix dropped it;
        returns the name of the shard this document closed, if any."""
        closed = None
        if doc.write:
            before = self.writer.shard_number if self.writer.has_open_shard else None
            self.writer.add(tokens)
            if before is not None and self.writer.shard_number != before:
                closed = self.writer.shard_name(before)
                self._mark(closed + MARKER_SUFFIX, closed, doc.ordinal)
        c = self._pending.setdefault(doc.source, empty_source_counts())
        if doc.first:
            c["documents_before"] += 1
            c["tokens_before"] += tokens.size
        if doc.write:
            c["documents_after"] += 1
            c["tokens_after"] += tokens.size
        return closed

    def _mark(self, marker_name: str, shard: str | None, next_ordinal: int) -> None:
        counts = {path: c for path, c in self.writer.counts.items() if shard and path.startswith(shard)}
        marker = {"counts": counts, "sources": self._pending, "next": next_ordinal}
        write_json_atomic(self.done / marker_name, marker, indent=None)
        self._absorb(marker)
        self._pending = {}

    def finish(self, end_ordinal: int) -> None:
        """Close the last shard and mark the split complete."""
        if self.finished:
            return
        if self.writer.has_open_shard:
            last = self.writer.shard_name(self.writer.shard_number)
            self.writer.close()
            self._mark(last + MARKER_SUFFIX, last, end_ordinal)
        self._mark(f"{self.split}.end{MARKER_SUFFIX}", None, end_ordinal)
        self.finished = True


@dataclass
class TextShardResult:
    """What ``write_text_shards`` produced: per-file counts (paths relative to ``files``), the
    per-source mix counts, and how much work this call did (``encoded``, ``from_cache``,
    ``resumed_shards``)."""

    files: Path
    counts: dict[str, dict[str, Any]]
    sources: dict[str, dict[str, int]]
    work: dict[str, int] = field(default_factory=dict)


def write_text_shards(
    work: Path,
    corpus: Manifest,
    tokenizer_text: str,
    val_ids: set[str],
    settings: ShardSettings,
    *,
    workers: int = 1,
    cache: TokenCache | None = None,
    progress: Callable[[str], None] | None = None,
) -> TextShardResult:
    """Tokenize the (mixed) corpus into ``work/files``, resuming after the last finished shard.

    ``progress(shard_name)`` is called after each shard's completion marker is on disk.
    """
    eos = np.array([Tokenizer.from_str(tokenizer_text).token_to_id(EOS_TOKEN)], dtype=TOKEN_DTYPE)
    splits = {split: _ResumableSplit(work, split, settings.max_tokens_per_shard) for split in SPLITS}
    done = {"encoded": 0, "from_cache": 0}
    end = 0

    def to_encode() -> Iterator[tuple[_Batch, list[str]]]:
        nonlocal end
        for docs in document_stream(corpus, val_ids, settings.mix, settings.mix_seed):
            end = docs[-1].ordinal + 1
            docs = [d for d in docs if d.ordinal >= splits[d.split].next and not splits[d.split].finished]
            if cache is not None:
                keys = [hashlib.sha256(d.text.encode("utf-8")).digest() for d in docs]
                found = cache.get_many(keys)
                yield (docs, keys, found), [d.text for d, k in zip(docs, keys, strict=True) if k not in found]
            else:
                yield (docs, [], {}), [d.text for d in docs]

    for (docs, keys, found), arrays in encoded(to_encode(), tokenizer_text, workers):
        fresh = iter(arrays)
        new: list[tuple[bytes, np.ndarray]] = []
        for i, doc in enumerate(docs):
            tokens = found.get(keys[i]) if cache is not None else None
            if tokens is None:
                tokens = next(fresh)
                if cache is not None:
                    new.append((keys[i], tokens))
            closed = splits[doc.split].add(doc, np.concatenate([tokens, eos]))
            if closed and progress:
                progress(closed)
        done["encoded"] += len(arrays)
        done["from_cache"] += len(docs) - len(arrays)
        if cache is not None and new:
            cache.put_many(new)
    counts: dict[str, dict[str, Any]] = {}
    sources: dict[str, dict[str, int]] = {}
    for split in splits.values():
        split.finish(end)
        counts.update(split.counts)
        add_counts(sources, split.sources)
    done["resumed_shards"] = sum(s.resumed_shards for s in splits.values())
    return TextShardResult(work / "files", counts, dict(sorted(sources.items())), done)
