"""The token-shard format, in one place: every fact a shard writer and a shard reader must agree on.

``pipelines/`` writes shards and ``train/`` reads them; neither imports the other, both import this
module, which needs only numpy. The layout is datatrove's ``DocumentTokenizer`` format, so datatrove's
``DatatroveFolderDataset`` and nanotron read the shards too (``docs/formats.md``):

* ``[sft-]<split>_<NNNNN>.ds``       little-endian uint16 token ids, no header;
* ``[sft-]<split>_<NNNNN>.ds.index`` little-endian uint64 cumulative document ends, in tokens;
* ``[sft-]<split>_<NNNNN>.ds.loss``  one byte per token (1 = train on it), only for masked data.

``sft-`` files hold instruction conversations (source ``instruct``), the others plain text (source
``text``). Every document ends with one ``<|endoftext|>`` that belongs to it and never straddles two
shards. The special tokens take ids ``0..15`` in `SPECIAL_TOKENS` order in every tokenizer garimpo
trains, so chat formats work without retraining; ids must fit uint16, hence `MAX_TOKEN_ID`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from garimpo.core.errors import ArtifactError
from garimpo.core.manifest import FileEntry, Manifest

TOKEN_DTYPE = np.dtype("<u2")
INDEX_DTYPE = np.dtype("<u8")
LOSS_DTYPE = np.dtype("u1")
DTYPE_NAME = "uint16"  # the manifest's ``extra.dtype`` of every shards version
MAX_TOKEN_ID = int(np.iinfo(TOKEN_DTYPE).max)  # 65 535: tokenizers stay at or below this many ids

SHARD_SUFFIX = ".ds"
INDEX_SUFFIX = ".index"  # appended to the shard's name: train_00000.ds.index
LOSS_SUFFIX = ".loss"
SPLITS = ("train", "val")
SOURCES = ("text", "instruct")
INSTRUCT_PREFIX = "sft-"
TOKENIZER_FILE = "tokenizer.json"  # the tokenizer a shards version was encoded with, beside its shards

EOS_TOKEN = "<|endoftext|>"
SYSTEM_TOKEN = "<|system|>"
QUERY_TOKEN = "<|query|>"
ANSWER_TOKEN = "<|answer|>"
THINK_TOKEN = "<|think|>"
CONTEXT_TOKEN = "<|context|>"
SPECIAL_TOKENS: tuple[str, ...] = (
    EOS_TOKEN,
    SYSTEM_TOKEN,
    QUERY_TOKEN,
    ANSWER_TOKEN,
    THINK_TOKEN,
    CONTEXT_TOKEN,
    *(f"<|reserved_{i}|>" for i in range(10)),
)


def shard_name(split: str, number: int, source: str = "text") -> str:
    """``train_00003.ds``, or ``sft-train_00003.ds`` for instruction data."""
    prefix = INSTRUCT_PREFIX if source == "instruct" else ""
    return f"{prefix}{split}_{number:05d}{SHARD_SUFFIX}"


def split_of(path: str, extra: dict[str, Any]) -> str:
    """The split a shard file belongs to: the manifest's ``split`` field, else its name prefix."""
    return extra.get("split") or Path(path).name.rsplit("_", 1)[0].removeprefix(INSTRUCT_PREFIX)


def source_of(path: str, extra: dict[str, Any]) -> str:
    """The source of a shard file: the manifest's ``source`` field, else ``instruct`` for ``sft-*``."""
    return extra.get("source") or ("instruct" if Path(path).name.startswith(INSTRUCT_PREFIX) else "text")


def shard_entries(manifest: Manifest, split: str, source: str | None = None) -> list[FileEntry]:
    """The ``.ds`` entries of ``split`` (of one ``source`` if given), in name order."""
    return sorted(
        (
            f
            for f in manifest.files
            if f.path.endswith(SHARD_SUFFIX)
            and split_of(f.path, f.extra) == split
            and source in (None, source_of(f.path, f.extra))
        ),
        key=lambda f: f.path,
    )


def sources(manifest: Manifest, split: str) -> list[str]:
    """The sources with at least one token in ``split``, sorted."""
    return sorted({source_of(f.path, f.extra) for f in shard_entries(manifest, split) if f.bytes})


def check_manifest(manifest: Manifest) -> None:
    """Refuse a manifest that is not a shards version this format can read."""
    if manifest.kind != "shards":
        raise ArtifactError(f"{manifest.ref} is a {manifest.kind!r} artifact, not shards")
    dtype = manifest.extra.get("dtype")
    if dtype != DTYPE_NAME:
        raise ArtifactError(f"{manifest.ref}: token dtype {dtype!r} is not supported (expected {DTYPE_NAME!r})")
    vocab = manifest.extra.get("vocab_size")
    if not isinstance(vocab, int) or not 0 < vocab <= MAX_TOKEN_ID + 1:
        raise ArtifactError(
            f"{manifest.ref}: vocab_size {vocab!r} must be an int in 1..{MAX_TOKEN_ID + 1} for uint16 ids"
        )


def open_tokens(manifest: Manifest, entry: FileEntry) -> np.ndarray:
    """A read-only memory map of one ``.ds`` file, checked against its ``.index`` when it has one."""
    if entry.bytes % TOKEN_DTYPE.itemsize:
        raise ArtifactError(f"{manifest.ref}: {entry.path} has an odd byte count {entry.bytes}")
    tokens = np.memmap(manifest.path_of(entry), dtype=TOKEN_DTYPE, mode="r")
    try:
        index = manifest.file(entry.path + INDEX_SUFFIX)
    except ArtifactError:
        return tokens  # the index is optional for reading tokens; the trainer samples fixed windows
    ends = np.fromfile(manifest.path_of(index), dtype=INDEX_DTYPE)
    if len(ends) and int(ends[-1]) != len(tokens):
        raise ArtifactError(
            f"{manifest.ref}: {index.path} ends at {int(ends[-1])} tokens but {entry.path} has {len(tokens)}"
        )
    return tokens


def open_loss(manifest: Manifest, entry: FileEntry, n_tokens: int) -> np.ndarray | None:
    """The memory-mapped loss mask of one ``.ds`` file, or None when it has none."""
    try:
        loss = manifest.file(entry.path + LOSS_SUFFIX)
    except ArtifactError:
        return None
    if loss.bytes != n_tokens:
        raise ArtifactError(
            f"{manifest.ref}: {loss.path} has {loss.bytes} bytes for {n_tokens} tokens (1 byte each)"
        )
    return np.memmap(manifest.path_of(loss), dtype=LOSS_DTYPE, mode="r")


def read_documents(manifest: Manifest, split: str, source: str | None = None) -> Iterator[list[int]]:
    """Token ids of every document of ``split`` (of one ``source`` if given), shard by shard, from
    ``.ds`` + ``.ds.index``. Entries written before sources were recorded count as ``text``."""
    for entry in shard_entries(manifest, split, source):
        tokens = np.fromfile(manifest.path_of(entry), dtype=TOKEN_DTYPE)
        ends = np.fromfile(manifest.path_of(entry.path + INDEX_SUFFIX), dtype=INDEX_DTYPE)
        if ends.size and (int(ends[-1]) != tokens.size or (np.diff(ends.astype(np.int64)) <= 0).any()):
            raise ArtifactError(f"{entry.path}{INDEX_SUFFIX} does not match {entry.path} ({tokens.size} tokens)")
        start = 0
        for end in ends.tolist():
            yield tokens[start:end].tolist()
            start = end


class ShardWriter:
    """Appends documents to ``<split>_<NNNNN>.ds`` files, starting a new shard before one would grow
    past ``max_tokens_per_shard``. A single document longer than the limit gets a shard of its own
    rather than being cut. Loss masks are all-or-nothing per writer: the first ``add`` decides.
    ``source`` picks the file names (``instruct`` writes ``sft-*``)."""

    def __init__(
        self, folder: Path, split: str, max_tokens_per_shard: int, source: str = "text", first_number: int = 0
    ) -> None:
        if max_tokens_per_shard < 1:
            raise ValueError(f"max_tokens_per_shard must be positive, got {max_tokens_per_shard}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        self.folder = Path(folder)
        self.split = split
        self.source = source
        self.max_tokens_per_shard = max_tokens_per_shard
        self._with_loss: bool | None = None
        self._number = first_number - 1
        self._files: dict[str, BinaryIO] = {}
        self._tokens = 0
        self._documents = 0
        self._counts: dict[str, dict[str, Any]] = {}

    def shard_name(self, number: int) -> str:
        return shard_name(self.split, number, self.source)

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
        suffixes = {"ds": "", "index": INDEX_SUFFIX} | ({"loss": LOSS_SUFFIX} if self._with_loss else {})
        name = self.shard_name(self._number)
        # The files stay open across add() calls and are closed in _finish_shard.
        self._files = {key: open(self.folder / (name + sfx), "wb") for key, sfx in suffixes.items()}  # noqa: SIM115

    def _finish_shard(self) -> None:
        if not self._files:
            return
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())  # a completion marker may follow: the bytes must be on disk first
            f.close()
        self._files = {}
        # Counts sit on the .ds entry only, so summing a manifest's file tokens counts each token once.
        name = self.shard_name(self._number)
        self._counts[name] = {"tokens": self._tokens, "documents": self._documents, "split": self.split}
        self._counts[name + INDEX_SUFFIX] = {"split": self.split}
        if self._with_loss:
            self._counts[name + LOSS_SUFFIX] = {"split": self.split}

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
