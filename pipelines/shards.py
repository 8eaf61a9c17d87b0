"""Token shards: a corpus version encoded with a tokenizer version into uint16 files the trainer reads.

The layout is datatrove's ``DocumentTokenizer`` format (see ``docs/formats.md``), so datatrove's
``DatatroveFolderDataset`` and nanotron read the shards too:

* ``<split>_<NNNNN>.ds``       little-endian uint16 token ids, no header;
* ``<split>_<NNNNN>.ds.index`` little-endian uint64 cumulative document ends, in tokens;
* ``<split>_<NNNNN>.ds.loss``  one byte per token (1 = train on it), only for masked data.

Instruction conversations (an ``instruct`` artifact) go into their own files,
``sft-<split>_<NNNNN>.ds`` + ``.ds.index`` + ``.ds.loss``, rendered by the chat template with a mask
that is 1 only on what the model must answer. Keeping them apart from the text shards means the text
files are byte-identical with or without instruction data, and a reader that ignores ``.ds.loss``
still sees whole conversations. Every file entry names its ``source`` (``text`` or ``instruct``).

Every document ends with one ``<|endoftext|>`` that belongs to it, and a document is never split
across shards, so a reader can always recover whole documents from one file. The train/val split is
a hash of the document id: it does not depend on order, worker count or corpus size, and a document
can never land in both splits.

Building is resumable and incremental. Text shards are written into a work folder under the store
(``.work/shards/<key>``, the key a hash of corpus, tokenizer and settings) and every finished shard
gets a completion marker recording where in the document stream the next shard starts, so a killed
build resumes after its last finished shard and ends byte-identical to an uninterrupted one. Token ids
of every document text go to a ``TokenCache`` (``.cache/tokens``), so a rebuild after the corpus
changed encodes only the changed documents.

Source mixing (``mix={"books": 3.0, "forum": 0.5}``, keyed by the corpus ``source`` column) repeats a
document ``floor(w)`` times plus once more when a seeded hash of its id falls below the fraction, and
keeps a document of weight < 1 only when that hash falls below ``w``. Copies are laid out in passes
over the corpus (pass ``r`` holds the documents with more than ``r`` copies), so repeats of one
document are never adjacent, and a copy stays in its document's split.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
from tokenizers import Tokenizer

from garimpo.core import ArtifactError, ArtifactStore, Built, Manifest, verify_or_raise
from garimpo.core.formats import EOS_TOKEN, MAX_TOKEN_ID, TOKENIZER_FILE
from garimpo.core.fs import OWNER_FILE, remove_tree
from garimpo.core.store import CACHE_DIR, WORK_DIR
from pipelines.instruct.render import render, special_ids
from pipelines.instruct.schema import Conversation
from pipelines.tokenizer import TokenCache, corpus_batches, document_encoder, special_token_ids

SPLITS = ("train", "val")
TOKEN_DTYPE = np.dtype("<u2")
INDEX_DTYPE = np.dtype("<u8")
LOSS_DTYPE = np.dtype("u1")
SOURCES = ("text", "instruct")
CONVERSATIONS_FILE = "conversations.jsonl"
INSTRUCT_PREFIX = "sft-"
MAX_SKIPPED_IDS = 100  # skipped conversation ids listed in the stats; the counts cover all of them
WORK_FORMAT = 1  # bump when the work folder's layout or the text shard bytes change
ENCODE_BATCH = 1024  # documents per encode_batch call: large enough to keep every core busy


class ShardWriter:
    """Appends documents to ``<split>_<NNNNN>.ds`` files, starting a new shard before one would grow
    past ``max_tokens_per_shard``. A single document longer than the limit gets a shard of its own
    rather than being cut. Loss masks are all-or-nothing per writer: the first ``add`` decides.
    ``prefix`` goes before the file names (``sft-`` for instruction data)."""

    def __init__(
        self, folder: Path, split: str, max_tokens_per_shard: int, prefix: str = "", first_number: int = 0
    ) -> None:
        if max_tokens_per_shard < 1:
            raise ValueError(f"max_tokens_per_shard must be positive, got {max_tokens_per_shard}")
        self.folder = Path(folder)
        self.split = split
        self.prefix = prefix
        self.max_tokens_per_shard = max_tokens_per_shard
        self._with_loss: bool | None = None
        self._number = first_number - 1
        self._files: dict[str, BinaryIO] = {}
        self._tokens = 0
        self._documents = 0
        self._counts: dict[str, dict[str, Any]] = {}

    @property
    def _name(self) -> str:
        return self.shard_name(self._number)

    def shard_name(self, number: int) -> str:
        return f"{self.prefix}{self.split}_{number:05d}.ds"

    @property
    def shard_number(self) -> int:
        """The number of the shard being written (``first_number - 1`` before the first document)."""
        return self._number

    def add(self, ids: Sequence[int] | np.ndarray, loss_mask: Sequence[int] | None = None) -> None:
        """Append one document (its EOS already included) and its optional 0/1 loss mask."""
        tokens = np.asarray(ids)
        if tokens.ndim != 1 or tokens.size == 0:
            raise ValueError("a document must be a non-empty flat sequence of token ids")
        if tokens.dtype != TOKEN_DTYPE:  # uint16 input fits by construction; anything else is checked
            tokens = tokens.astype(np.int64)
            if tokens.min() < 0 or tokens.max() > MAX_TOKEN_ID:
                raise ValueError(f"token ids must be in 0..{MAX_TOKEN_ID} to fit uint16")
        with_loss = loss_mask is not None
        if self._with_loss is None:
            self._with_loss = with_loss
        elif with_loss != self._with_loss:
            raise ValueError("either every document of a writer has a loss mask or none has")
        mask = None if loss_mask is None else np.asarray(loss_mask, dtype=np.int64)
        if mask is not None and (mask.shape != tokens.shape or not np.isin(mask, (0, 1)).all()):
            raise ValueError("loss_mask must hold one 0 or 1 per token")
        # Everything is checked before the first byte is written, so a refused document leaves the
        # shard consistent.
        if not self._files or (self._tokens and self._tokens + tokens.size > self.max_tokens_per_shard):
            self._start_shard()
        self._files["ds"].write(tokens.astype(TOKEN_DTYPE, copy=False).tobytes())
        if mask is not None:
            self._files["loss"].write(mask.astype(LOSS_DTYPE).tobytes())
        self._tokens += tokens.size
        self._documents += 1
        self._files["index"].write(np.array([self._tokens], dtype=INDEX_DTYPE).tobytes())

    def _start_shard(self) -> None:
        self._finish_shard()
        self._number += 1
        self._tokens = self._documents = 0
        suffixes = {"ds": "", "index": ".index"} | ({"loss": ".loss"} if self._with_loss else {})
        # The files stay open across add() calls and are closed in _finish_shard.
        self._files = {key: open(self.folder / (self._name + sfx), "wb") for key, sfx in suffixes.items()}  # noqa: SIM115

    def _finish_shard(self) -> None:
        if not self._files:
            return
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())  # a completion marker may follow: the bytes must be on disk first
            f.close()
        self._files = {}
        # Counts sit on the .ds entry only, so summing a manifest's file tokens counts each token once.
        self._counts[self._name] = {"tokens": self._tokens, "documents": self._documents, "split": self.split}
        self._counts[self._name + ".index"] = {"split": self.split}
        if self._with_loss:
            self._counts[self._name + ".loss"] = {"split": self.split}

    @property
    def has_open_shard(self) -> bool:
        return bool(self._files)

    @property
    def counts(self) -> dict[str, dict[str, Any]]:
        """Per-file manifest counts of the shards finished so far."""
        return dict(self._counts)

    def close(self) -> dict[str, dict[str, Any]]:
        """Finish the open shard; return per-file manifest counts ``{relpath: {...}}``."""
        self._finish_shard()
        return dict(self._counts)


def _unit_hash(doc_id: str) -> float:
    """A stable number in [0, 1) from a document id; below ``val_fraction`` means validation."""
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big") / 2**64


def validation_ids(doc_ids: Iterator[str], val_fraction: float) -> set[str]:
    """The ids that go to ``val``: those hashing below ``val_fraction``.

    With two or more distinct ids both splits are non-empty: if no id falls below the fraction the
    lowest-hashing one moves to val, and if all do, the highest-hashing one stays in train.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    val: set[str] = set()
    lowest: tuple[float, str] | None = None
    highest: tuple[float, str] | None = None
    distinct: set[str] = set()
    for doc_id in doc_ids:
        h = (_unit_hash(doc_id), doc_id)
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


def _encode(tok: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    if not texts:
        return []
    encodings = tok.encode_batch(texts, add_special_tokens=False)
    return [np.asarray(e.ids, dtype=TOKEN_DTYPE) for e in encodings]


_worker_tokenizer: Tokenizer | None = None


def _init_worker(tokenizer_text: str) -> None:
    global _worker_tokenizer
    _worker_tokenizer = document_encoder(Tokenizer.from_str(tokenizer_text))


def _encode_in_worker(texts: list[str]) -> list[np.ndarray]:
    assert _worker_tokenizer is not None
    return _encode(_worker_tokenizer, texts)


T = TypeVar("T")


def _encoded(
    batches: Iterator[tuple[T, list[str]]], tokenizer_text: str, workers: int
) -> Iterator[tuple[T, list[np.ndarray]]]:
    """``(tag, token arrays)`` per ``(tag, texts)`` batch, in input order. At most ``2 * workers``
    batches are in flight, so memory stays bounded however large the corpus is.

    With one worker, encoding runs on a background thread (``encode_batch`` releases the GIL and
    spreads a batch over every core), so reading, hashing and writing the previous batch overlap it.
    """
    pool: Executor
    if workers <= 1:
        tok = document_encoder(Tokenizer.from_str(tokenizer_text))
        pool = ThreadPoolExecutor(1)
        encode: Callable[[list[str]], list[np.ndarray]] = partial(_encode, tok)
    else:
        # spawn, not fork: the tokenizers library's thread pool does not survive a fork.
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(tokenizer_text,)
        )
        encode = _encode_in_worker
    with pool:
        pending: deque[tuple[T, Future[list[np.ndarray]]]] = deque()
        for tag, texts in batches:
            pending.append((tag, pool.submit(encode, texts)))
            if len(pending) >= 2 * max(workers, 1):
                tag, future = pending.popleft()
                yield tag, future.result()
        while pending:
            tag, future = pending.popleft()
            yield tag, future.result()


def copies(doc_id: str, weight: float, seed: int) -> int:
    """How many times a document of a source with ``weight`` goes into the shards: ``floor(weight)``,
    plus one when a seeded hash of its id falls below the fractional part."""
    if not (weight >= 0 and math.isfinite(weight)):
        raise ValueError(f"a mix weight must be a finite number >= 0, got {weight!r}")
    whole = math.floor(weight)
    return whole + int(_unit_hash(f"{seed}\0{doc_id}") < weight - whole)


@dataclass
class _Doc:
    """One place in the document stream: a corpus document in pass ``pass_`` of the mix."""

    ordinal: int
    id: str
    text: str
    source: str
    split: str
    write: bool  # False only for a document the mix drops: it is counted, never written
    first: bool  # pass 0: counts towards the per-source "before" figures


def document_stream(
    corpus: Manifest, val_ids: set[str], mix: dict[str, float] | None, seed: int
) -> Iterator[list[_Doc]]:
    """Batches of the mixed document stream, numbered by ``ordinal`` in a fixed order: pass 0 holds
    every corpus document (those the mix drops marked ``write=False``), pass ``r`` the documents
    with more than ``r`` copies."""
    weights = mix or {}
    passes = max([1, *(math.ceil(w) for w in weights.values())])
    ordinal = 0
    for pass_ in range(passes):
        for batch in corpus_batches(corpus, ["id", "text", "source"], batch_size=ENCODE_BATCH):
            docs = []
            for doc_id, text, source in zip(batch["id"], batch["text"], batch["source"], strict=True):
                n = copies(doc_id, weights.get(source, 1.0), seed) if mix else 1
                if pass_ == 0 or n > pass_:
                    split = "val" if doc_id in val_ids else "train"
                    docs.append(_Doc(ordinal, doc_id, text or "", source, split, n > pass_, pass_ == 0))
                    ordinal += 1
            if docs:
                yield docs


def _empty_source_counts() -> dict[str, int]:
    return {"documents_before": 0, "tokens_before": 0, "documents_after": 0, "tokens_after": 0}


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
        self.resumed_shards = 0
        self.next = 0
        self.finished = (self.done / f"{split}.end.json").is_file()
        number = 0
        while (marker := self.done / f"{split}_{number:05d}.ds.json").is_file():
            self._absorb(json.loads(marker.read_text()))
            number += 1
        if self.finished:
            self._absorb(json.loads((self.done / f"{split}.end.json").read_text()))
        self.resumed_shards = number
        for stale in self.files.glob(f"{split}_*"):
            if int(stale.name[len(split) + 1 :].split(".")[0]) >= number:
                stale.unlink()
        self.writer = ShardWriter(self.files, split, max_tokens_per_shard, first_number=number)
        self._pending: dict[str, dict[str, int]] = {}

    def _absorb(self, marker: dict[str, Any]) -> None:
        self.counts.update(marker["counts"])
        for source, c in marker["sources"].items():
            total = self.sources.setdefault(source, _empty_source_counts())
            for key, value in c.items():
                total[key] += value
        self.next = marker["next"]

    def add(self, doc: _Doc, tokens: np.ndarray) -> str | None:
        """Account for one stream document (its EOS included) and write it unless the mix dropped it;
        returns the name of the shard this document closed, if any."""
        closed = None
        if doc.write:
            before = self.writer.shard_number if self.writer.has_open_shard else None
            self.writer.add(tokens)
            if before is not None and self.writer.shard_number != before:
                closed = self.writer.shard_name(before)
                self._mark(closed + ".json", closed, doc.ordinal)
        c = self._pending.setdefault(doc.source, _empty_source_counts())
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
        _write_marker(self.done / marker_name, marker)
        self._absorb(marker)
        self._pending = {}

    def finish(self, end_ordinal: int) -> None:
        """Close the last shard and mark the split complete."""
        if self.finished:
            return
        if self.writer.has_open_shard:
            last = self.writer.shard_name(self.writer.shard_number)
            self.writer.close()
            self._mark(last + ".json", last, end_ordinal)
        self._mark(f"{self.split}.end.json", None, end_ordinal)
        self.finished = True


def _write_marker(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
    max_tokens_per_shard: int,
    *,
    workers: int = 1,
    mix: dict[str, float] | None = None,
    mix_seed: int = 0,
    cache: TokenCache | None = None,
    progress: Callable[[str], None] | None = None,
) -> TextShardResult:
    """Tokenize the (mixed) corpus into ``work/files``, resuming after the last finished shard.

    ``progress(shard_name)`` is called after each shard's completion marker is on disk.
    """
    eos = np.array([Tokenizer.from_str(tokenizer_text).token_to_id(EOS_TOKEN)], dtype=TOKEN_DTYPE)
    splits = {split: _ResumableSplit(work, split, max_tokens_per_shard) for split in SPLITS}
    done = {"encoded": 0, "from_cache": 0}
    end = 0

    def to_encode() -> Iterator[tuple[tuple[list[_Doc], list[bytes], dict[bytes, np.ndarray]], list[str]]]:
        nonlocal end
        for docs in document_stream(corpus, val_ids, mix, mix_seed):
            end = docs[-1].ordinal + 1
            docs = [d for d in docs if d.ordinal >= splits[d.split].next and not splits[d.split].finished]
            if cache is not None:
                keys = [hashlib.sha256(d.text.encode("utf-8")).digest() for d in docs]
                found = cache.get_many(keys)
                yield (docs, keys, found), [d.text for d, k in zip(docs, keys, strict=True) if k not in found]
            else:
                yield (docs, [], {}), [d.text for d in docs]

    for (docs, keys, found), arrays in _encoded(to_encode(), tokenizer_text, workers):
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
        for source, c in split.sources.items():
            total = sources.setdefault(source, _empty_source_counts())
            for key, value in c.items():
                total[key] += value
    done["resumed_shards"] = sum(s.resumed_shards for s in splits.values())
    return TextShardResult(work / "files", counts, dict(sorted(sources.items())), done)


def _conversation_lines(instruct: Manifest) -> Iterator[tuple[int, str]]:
    with open(instruct.path_of(CONVERSATIONS_FILE), encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line


def _line_id(number: int, line: str) -> str:
    """The conversation's id, or ``line:<number>`` when the line has none (or is not JSON)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    own = record.get("id") if isinstance(record, dict) else None
    return own if isinstance(own, str) and own else f"line:{number}"


class SkippedConversation(ValueError):
    """A conversation that cannot go into a shard; ``reason`` is the short name counted in the stats."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def render_line(line: str, tok: Tokenizer) -> tuple[list[int], list[int]]:
    """``(ids, loss_mask)`` of one ``conversations.jsonl`` line; SkippedConversation if it can't be."""
    try:
        conv = Conversation.from_dict(json.loads(line))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise SkippedConversation("malformed_record", f"{type(error).__name__}: {error}") from error
    try:
        ids, mask = render(conv, tok)
    except ValueError as error:
        raise SkippedConversation("render_failed", str(error)) from error
    if max(ids) > MAX_TOKEN_ID:
        raise SkippedConversation("id_exceeds_uint16", f"token id {max(ids)} > {MAX_TOKEN_ID}")
    return ids, mask


def write_instruct_shards(
    folder: Path, instruct: Manifest, tokenizer_text: str, val_fraction: float, max_tokens_per_shard: int
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Render every conversation of an instruct version into ``sft-<split>_<NNNNN>.ds`` (+ index, loss).

    The conversation's ids already end with ``<|endoftext|>`` (the template closes with it), so no EOS
    is added. Returns the per-file manifest counts and the stats of the run: ``in == kept + rejected``,
    a conversation that cannot be rendered is counted under its reason instead of stopping the build.
    """
    tok = Tokenizer.from_str(tokenizer_text)
    val_ids = validation_ids(
        (_line_id(number, line) for number, line in _conversation_lines(instruct)), val_fraction
    )
    writers = {
        split: ShardWriter(folder, split, max_tokens_per_shard, prefix=INSTRUCT_PREFIX) for split in SPLITS
    }
    reasons: Counter[str] = Counter()
    skipped: list[dict[str, str]] = []
    total = 0
    for number, line in _conversation_lines(instruct):
        total += 1
        conv_id = _line_id(number, line)
        try:
            ids, mask = render_line(line, tok)
        except SkippedConversation as skip:
            reasons[skip.reason] += 1
            if len(skipped) < MAX_SKIPPED_IDS:
                skipped.append({"id": conv_id, "reason": skip.reason, "detail": skip.detail[:200]})
            continue
        writers["val" if conv_id in val_ids else "train"].add(ids, loss_mask=mask)
    counts: dict[str, dict[str, Any]] = {}
    for writer in writers.values():
        counts.update(writer.close())
    rejected = sum(reasons.values())
    stats = {
        "stage": "instruct_render",
        "in": total,
        "kept": total - rejected,
        "rejected": rejected,
        "reasons": dict(reasons),
        "skipped": skipped,
    }
    return counts, stats


def _with_source(counts: dict[str, dict[str, Any]], source: str) -> dict[str, dict[str, Any]]:
    return {path: {**c, "source": source} for path, c in counts.items()}


def split_totals(counts: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{split: {"tokens", "documents", "files"}}`` summed over the ``.ds`` entries of ``counts``."""
    totals = {split: {"tokens": 0, "documents": 0, "files": 0} for split in SPLITS}
    for path, c in counts.items():
        if path.endswith(".ds"):
            t = totals[c["split"]]
            t["tokens"] += c["tokens"]
            t["documents"] += c["documents"]
            t["files"] += 1
    return totals


def source_totals(counts: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    """``{source: {split: {"tokens", "documents", "files"}}}`` for every source present in ``counts``."""
    present = {c["source"] for c in counts.values()}
    return {
        source: split_totals({p: c for p, c in counts.items() if c["source"] == source})
        for source in SOURCES
        if source in present
    }


def shard_work_key(
    corpus: Manifest,
    tokenizer_sha256: str,
    val_fraction: float,
    max_tokens_per_shard: int,
    mix: dict[str, float] | None,
    mix_seed: int,
) -> str:
    """The work folder's name: everything that decides the text shards' bytes, hashed."""
    settings = {
        "format": WORK_FORMAT,
        "corpus": corpus.fingerprint,
        "tokenizer": tokenizer_sha256,
        "val_fraction": val_fraction,
        "max_tokens_per_shard": max_tokens_per_shard,
        "mix": mix,
        "mix_seed": mix_seed,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]


def _claim(work: Path) -> None:
    """Make ``work`` ours; refuse when another live build is using it."""
    work.mkdir(parents=True, exist_ok=True)
    owner = work / OWNER_FILE
    if owner.is_file():
        pid = owner.read_text().strip()
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                pass
            else:
                raise ArtifactError(f"{work} is in use by the running build with pid {pid}")
    owner.write_text(f"{os.getpid()}\n")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def build_shards(
    store: ArtifactStore,
    name: str,
    corpus: Manifest,
    tokenizer: Manifest,
    instruct: Manifest | None = None,
    val_fraction: float = 0.05,
    max_tokens_per_shard: int = 50_000_000,
    workers: int = 1,
    *,
    mix: dict[str, float] | None = None,
    mix_seed: int = 0,
    token_cache: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Manifest:
    """Encode a corpus version with a tokenizer version and publish ``shards/<name>/<version>``.

    With ``instruct`` (an instruct version), its conversations are rendered with the chat template
    into ``sft-*`` shards with loss masks beside the text shards, which stay exactly as without it.
    ``mix`` weighs the corpus by its ``source`` column (unlisted sources weigh 1.0). The output does
    not depend on ``workers``, on the token cache or on how often the build was killed and resumed:
    documents keep corpus order within each split and pass, and conversations keep file order.
    ``progress(shard_name)`` is called when a text shard is finished and marked.
    """
    verify_or_raise(corpus)
    verify_or_raise(tokenizer)
    if instruct is not None:
        verify_or_raise(instruct)
        if instruct.kind != "instruct":
            raise ArtifactError(f"{instruct.ref}: expected an instruct artifact, got kind {instruct.kind!r}")
        instruct.file(CONVERSATIONS_FILE)
    if mix is not None:
        for weight in mix.values():
            copies("", weight, mix_seed)  # validates the weight
    tokenizer_path = tokenizer.path_of(TOKENIZER_FILE)
    tokenizer_text = tokenizer_path.read_text(encoding="utf-8")
    tokenizer_sha256 = tokenizer.file(TOKENIZER_FILE).sha256
    tok = Tokenizer.from_str(tokenizer_text)
    if tok.get_vocab_size() > MAX_TOKEN_ID:
        raise ArtifactError(f"{tokenizer.ref}: vocab {tok.get_vocab_size()} does not fit uint16 shards")
    if tok.token_to_id(EOS_TOKEN) is None:
        raise ArtifactError(f"{tokenizer.ref}: tokenizer has no {EOS_TOKEN} token")
    if instruct is not None:
        try:
            special_ids(tok)
        except ValueError as error:
            raise ArtifactError(f"{tokenizer.ref}: cannot render conversations: {error}") from error
    val_ids = validation_ids(
        (doc_id for batch in corpus_batches(corpus, ["id"]) for doc_id in batch["id"]), val_fraction
    )

    key = shard_work_key(corpus, tokenizer_sha256, val_fraction, max_tokens_per_shard, mix, mix_seed)
    work = store.root / WORK_DIR / "shards" / key
    _claim(work)
    cache = TokenCache(store.root / CACHE_DIR / "tokens", tokenizer_sha256) if token_cache else None
    try:
        text = write_text_shards(
            work,
            corpus,
            tokenizer_text,
            val_ids,
            max_tokens_per_shard,
            workers=workers,
            mix=mix,
            mix_seed=mix_seed,
            cache=cache,
            progress=progress,
        )
    finally:
        if cache is not None:
            cache.close()

    def build(folder: Path) -> Built:
        for path in text.counts:
            _link_or_copy(text.files / path, folder / path)
        counts = _with_source(text.counts, "text")
        stats: dict[str, Any] = {}
        if instruct is not None:
            instruct_counts, stats["instruct"] = write_instruct_shards(
                folder, instruct, tokenizer_text, val_fraction, max_tokens_per_shard
            )
            counts.update(_with_source(instruct_counts, "instruct"))
        shutil.copyfile(tokenizer_path, folder / TOKENIZER_FILE)
        totals = split_totals(counts)
        weights = mix or {}
        return Built(
            counts=counts,
            stats={
                "documents": sum(t["documents"] for t in totals.values()),
                "tokens": sum(t["tokens"] for t in totals.values()),
                **totals,
                "mix": {s: {"weight": weights.get(s, 1.0), **c} for s, c in text.sources.items()},
                **stats,
                "build": text.work,
            },
            extra={"splits": totals, "sources": source_totals(counts)},
        )

    parents = {"corpus": corpus.ref, "tokenizer": tokenizer.ref}
    if instruct is not None:
        parents["instruct"] = instruct.ref
    manifest = store.publish(
        "shards",
        name,
        build,
        config={
            "val_fraction": val_fraction,
            "max_tokens_per_shard": max_tokens_per_shard,
            "split_rule": "sha256(id)[:8] / 2**64 < val_fraction",
            "eos_policy": f"one {EOS_TOKEN} after every document, counted in that document",
            "mix": mix,
            "mix_seed": mix_seed,
            "mix_rule": "copies = floor(w) + (sha256(f'{mix_seed}\\0{id}')[:8] / 2**64 < w - floor(w))",
        },
        parents=parents,
        extra={
            "dtype": "uint16",
            "vocab_size": tok.get_vocab_size(),
            "eos_id": tok.token_to_id(EOS_TOKEN),
            "special_tokens": special_token_ids(tok),
            "tokenizer_file": TOKENIZER_FILE,
            "tokenizer_sha256": tokenizer_sha256,
        },
    )
    remove_tree(work)  # atomically: a kill here must not leave markers without their files
    return manifest


def read_documents(manifest: Manifest, split: str, source: str | None = None) -> Iterator[list[int]]:
    """Token ids of every document of ``split`` (of one ``source`` if given), shard by shard, from
    ``.ds`` + ``.ds.index``. Entries written before sources were recorded count as ``text``."""
    shards = sorted(
        f.path
        for f in manifest.files
        if f.path.endswith(".ds")
        and f.extra.get("split") == split
        and source in (None, f.extra.get("source", "text"))
    )
    for path in shards:
        tokens = np.fromfile(manifest.path_of(path), dtype=TOKEN_DTYPE)
        ends = np.fromfile(manifest.path_of(path + ".index"), dtype=INDEX_DTYPE)
        if ends.size and (int(ends[-1]) != tokens.size or (np.diff(ends.astype(np.int64)) <= 0).any()):
            raise ArtifactError(f"{path}.index does not match {path} ({tokens.size} tokens)")
        start = 0
        for end in ends.tolist():
            yield tokens[start:end].tolist()
            start = end
