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
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from tokenizers import Tokenizer

from garimpo.artifacts import ArtifactError, ArtifactStore, Manifest, verify_or_raise
from pipelines.instruct.render import render, special_ids
from pipelines.instruct.schema import Conversation
from pipelines.tokenizer import (
    EOS_TOKEN,
    MAX_UINT16_VOCAB,
    TOKENIZER_FILE,
    corpus_batches,
    document_encoder,
    special_token_ids,
)

SPLITS = ("train", "val")
TOKEN_DTYPE = np.dtype("<u2")
INDEX_DTYPE = np.dtype("<u8")
LOSS_DTYPE = np.dtype("u1")
SOURCES = ("text", "instruct")
CONVERSATIONS_FILE = "conversations.jsonl"
INSTRUCT_PREFIX = "sft-"
MAX_SKIPPED_IDS = 100  # skipped conversation ids listed in the stats; the counts cover all of them


class ShardWriter:
    """Appends documents to ``<split>_<NNNNN>.ds`` files, starting a new shard before one would grow
    past ``max_tokens_per_shard``. A single document longer than the limit gets a shard of its own
    rather than being cut. Loss masks are all-or-nothing per writer: the first ``add`` decides.
    ``prefix`` goes before the file names (``sft-`` for instruction data)."""

    def __init__(self, folder: Path, split: str, max_tokens_per_shard: int, prefix: str = "") -> None:
        if max_tokens_per_shard < 1:
            raise ValueError(f"max_tokens_per_shard must be positive, got {max_tokens_per_shard}")
        self.folder = Path(folder)
        self.split = split
        self.prefix = prefix
        self.max_tokens_per_shard = max_tokens_per_shard
        self._with_loss: bool | None = None
        self._number = -1
        self._files: dict[str, BinaryIO] = {}
        self._tokens = 0
        self._documents = 0
        self._counts: dict[str, dict[str, Any]] = {}

    @property
    def _name(self) -> str:
        return f"{self.prefix}{self.split}_{self._number:05d}.ds"

    def add(self, ids: Sequence[int], loss_mask: Sequence[int] | None = None) -> None:
        """Append one document (its EOS already included) and its optional 0/1 loss mask."""
        tokens = np.asarray(ids, dtype=np.int64)
        if tokens.ndim != 1 or tokens.size == 0:
            raise ValueError("a document must be a non-empty flat sequence of token ids")
        if tokens.min() < 0 or tokens.max() > MAX_UINT16_VOCAB:
            raise ValueError(f"token ids must be in 0..{MAX_UINT16_VOCAB} to fit uint16")
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
        if self._number < 0 or (self._tokens and self._tokens + tokens.size > self.max_tokens_per_shard):
            self._start_shard()
        self._files["ds"].write(tokens.astype(TOKEN_DTYPE).tobytes())
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
            f.close()
        self._files = {}
        # Counts sit on the .ds entry only, so summing a manifest's file tokens counts each token once.
        self._counts[self._name] = {"tokens": self._tokens, "documents": self._documents, "split": self.split}
        self._counts[self._name + ".index"] = {"split": self.split}
        if self._with_loss:
            self._counts[self._name + ".loss"] = {"split": self.split}

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


def _encode(tok: Tokenizer, texts: list[str | None]) -> list[np.ndarray]:
    encodings = tok.encode_batch([t or "" for t in texts], add_special_tokens=False)
    return [np.asarray(e.ids, dtype=TOKEN_DTYPE) for e in encodings]


_worker_tokenizer: Tokenizer | None = None


def _init_worker(tokenizer_text: str) -> None:
    global _worker_tokenizer
    _worker_tokenizer = document_encoder(Tokenizer.from_str(tokenizer_text))


def _encode_in_worker(texts: list[str | None]) -> list[np.ndarray]:
    assert _worker_tokenizer is not None
    return _encode(_worker_tokenizer, texts)


def _encoded(
    batches: Iterator[dict[str, list[Any]]], tokenizer_text: str, workers: int
) -> Iterator[tuple[list[str], list[np.ndarray]]]:
    """(ids, token arrays) per batch, in input order. With several workers at most ``2 * workers``
    batches are in flight, so memory stays bounded however large the corpus is."""
    if workers <= 1:
        tok = document_encoder(Tokenizer.from_str(tokenizer_text))
        for batch in batches:
            yield batch["id"], _encode(tok, batch["text"])
        return
    # spawn, not fork: the tokenizers library's thread pool does not survive a fork.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(tokenizer_text,)
    ) as pool:
        pending: deque[tuple[list[str], Future[list[np.ndarray]]]] = deque()
        for batch in batches:
            pending.append((batch["id"], pool.submit(_encode_in_worker, batch["text"])))
            if len(pending) >= 2 * workers:
                ids, future = pending.popleft()
                yield ids, future.result()
        while pending:
            ids, future = pending.popleft()
            yield ids, future.result()


def write_shards(
    folder: Path,
    corpus: Manifest,
    tokenizer_text: str,
    val_ids: set[str],
    max_tokens_per_shard: int,
    workers: int = 1,
) -> dict[str, dict[str, Any]]:
    """Tokenize every corpus document into ``folder``; return the per-file manifest counts."""
    eos_id = Tokenizer.from_str(tokenizer_text).token_to_id(EOS_TOKEN)
    eos = np.array([eos_id], dtype=TOKEN_DTYPE)
    writers = {split: ShardWriter(folder, split, max_tokens_per_shard) for split in SPLITS}
    for ids, arrays in _encoded(corpus_batches(corpus, ["id", "text"]), tokenizer_text, workers):
        for doc_id, tokens in zip(ids, arrays, strict=True):
            writers["val" if doc_id in val_ids else "train"].add(np.concatenate([tokens, eos]))
    counts: dict[str, dict[str, Any]] = {}
    for writer in writers.values():
        counts.update(writer.close())
    return counts


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
    if max(ids) > MAX_UINT16_VOCAB:
        raise SkippedConversation("id_exceeds_uint16", f"token id {max(ids)} > {MAX_UINT16_VOCAB}")
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


def build_shards(
    store: ArtifactStore,
    name: str,
    corpus: Manifest,
    tokenizer: Manifest,
    instruct: Manifest | None = None,
    val_fraction: float = 0.05,
    max_tokens_per_shard: int = 50_000_000,
    workers: int = 1,
) -> Manifest:
    """Encode a corpus version with a tokenizer version and publish ``shards/<name>/<version>``.

    With ``instruct`` (an instruct version), its conversations are rendered with the chat template
    into ``sft-*`` shards with loss masks beside the text shards, which stay exactly as without it.
    The output does not depend on ``workers``: documents keep corpus order within each split, and
    conversations keep file order.
    """
    verify_or_raise(corpus)
    verify_or_raise(tokenizer)
    if instruct is not None:
        verify_or_raise(instruct)
        if instruct.kind != "instruct":
            raise ArtifactError(f"{instruct.ref}: expected an instruct artifact, got kind {instruct.kind!r}")
        instruct.file(CONVERSATIONS_FILE)
    tokenizer_path = tokenizer.path_of(TOKENIZER_FILE)
    tokenizer_text = tokenizer_path.read_text(encoding="utf-8")
    tok = Tokenizer.from_str(tokenizer_text)
    if tok.get_vocab_size() > MAX_UINT16_VOCAB:
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

    # Shards are written to a staging folder first, because the manifest's split totals must be
    # known before publishing; the publish step then only moves the finished files.
    store.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".shards-staging-", dir=store.root))
    try:
        counts = _with_source(
            write_shards(staging, corpus, tokenizer_text, val_ids, max_tokens_per_shard, workers), "text"
        )
        stats: dict[str, Any] = {}
        parents = {"corpus": corpus.ref, "tokenizer": tokenizer.ref}
        if instruct is not None:
            instruct_counts, stats["instruct"] = write_instruct_shards(
                staging, instruct, tokenizer_text, val_fraction, max_tokens_per_shard
            )
            counts.update(_with_source(instruct_counts, "instruct"))
            parents["instruct"] = instruct.ref
        shutil.copyfile(tokenizer_path, staging / TOKENIZER_FILE)
        totals = split_totals(counts)
        sources = source_totals(counts)

        def build(folder: Path) -> dict[str, dict[str, Any]]:
            for p in staging.iterdir():
                p.rename(folder / p.name)
            return counts

        return store.publish(
            "shards",
            name,
            build,
            config={
                "val_fraction": val_fraction,
                "max_tokens_per_shard": max_tokens_per_shard,
                "split_rule": "sha256(id)[:8] / 2**64 < val_fraction",
                "eos_policy": f"one {EOS_TOKEN} after every document, counted in that document",
            },
            parents=parents,
            stats={
                "documents": sum(t["documents"] for t in totals.values()),
                "tokens": sum(t["tokens"] for t in totals.values()),
                **totals,
                **stats,
            },
            extra={
                "dtype": "uint16",
                "vocab_size": tok.get_vocab_size(),
                "eos_id": tok.token_to_id(EOS_TOKEN),
                "special_tokens": special_token_ids(tok),
                "tokenizer_file": TOKENIZER_FILE,
                "tokenizer_sha256": tokenizer.file(TOKENIZER_FILE).sha256,
                "splits": totals,
                "sources": sources,
            },
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
