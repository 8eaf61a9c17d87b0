"""Token shards in, ``(x, y, loss_mask)`` batches out: the trainer's only view of the data.

The trainer reads nothing but a shards manifest and the files it lists (format in
``docs/formats.md``). ``open_shards`` loads the manifest and refuses it unless every file has its
recorded size and sha256 and the extra fields say uint16 tokens: training for days on a truncated or
altered shard is the expensive way to find out.

Each split's ``.ds`` files are memory-mapped and read as one stream (documents never straddle shards
and each ends with ``<|endoftext|>``, so concatenating shards is concatenating documents). Training
windows of ``seq_len + 1`` tokens start at multiples of ``seq_len`` from a per-epoch offset, and each
epoch visits them in a random order drawn from ``(seed, epoch)``. The sampler's whole state is
``(epoch, cursor)``: a resumed run rebuilds the same permutation and continues at the same window, so
it sees exactly the batches an uninterrupted run would (unlike re-seeding, which replays batches).

Sources: each manifest file entry names its ``source`` (``text`` or ``instruct``). With mixing
weights, every source is its own stream with its own window order, and each window of a batch picks
its source by a draw seeded from ``(seed, batch number)``; the state is then the per-source positions
plus the batch count, still exact on resume. Under ``torchrun`` every process draws the same global
batch of ``batch_size * world_size`` windows and reads only its own slice, so the data position is one
state whatever the number of processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from garimpo.core import ArtifactError, ArtifactStore, Manifest, load_manifest, verify_or_raise

TOKEN_DTYPE = np.dtype("<u2")
INDEX_DTYPE = np.dtype("<u8")


def open_shards(shards: str | Path, artifacts_root: str | Path = "artifacts") -> Manifest:
    """Load and verify a shards version: a folder path, or a reference ``shards/<name>[/<version>]``.

    A bare ``<name>[/<version>]`` is read as a shards reference too. Raises ``ArtifactError`` naming
    the problem when a file is missing, truncated or altered, or the manifest is not uint16 shards.
    """
    path = Path(shards)
    if (path / "manifest.json").is_file() or path.name == "manifest.json":
        manifest = load_manifest(path)
    else:
        ref = str(shards).strip("/")
        if not ref.startswith("shards/"):
            ref = "shards/" + ref
        manifest = ArtifactStore(artifacts_root).load_ref(ref)
    if manifest.kind != "shards":
        raise ArtifactError(f"{manifest.ref} is a {manifest.kind!r} artifact, not shards")
    verify_or_raise(manifest)
    dtype = manifest.extra.get("dtype")
    if dtype != "uint16":
        raise ArtifactError(f"{manifest.ref}: token dtype {dtype!r} is not supported (expected 'uint16')")
    vocab = manifest.extra.get("vocab_size")
    if not isinstance(vocab, int) or not 0 < vocab <= 65536:
        raise ArtifactError(f"{manifest.ref}: vocab_size {vocab!r} must be an int in 1..65536 for uint16 ids")
    return manifest


def _mix_seed(*parts: int | str) -> int:
    """A 63-bit seed from several integers or names, with no collisions like seed+epoch would give."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class TokenStream:
    """The ``.ds`` shards of one split as one read-only token stream, with its loss mask if any."""

    def __init__(self, manifest: Manifest, split: str, source: str | None = None) -> None:
        self.split, self.source = split, source
        entries = sorted(
            (
                f
                for f in manifest.files
                if f.path.endswith(".ds")
                and _split_of(f.path, f.extra) == split
                and source in (None, source_of(f.path, f.extra))
            ),
            key=lambda f: f.path,
        )
        self.tokens: list[np.memmap] = []
        self.loss: list[np.memmap | None] = []
        for f in entries:
            path = manifest.path_of(f)
            if f.bytes == 0:
                continue  # an empty shard holds no window (and an empty file cannot be mapped)
            if f.bytes % TOKEN_DTYPE.itemsize:
                raise ArtifactError(f"{manifest.ref}: {f.path} has an odd byte count {f.bytes}")
            toks = np.memmap(path, dtype=TOKEN_DTYPE, mode="r")
            self._check_index(manifest, f.path, len(toks))
            self.tokens.append(toks)
            self.loss.append(self._open_loss(manifest, f.path, len(toks)))
        sizes = np.array([len(t) for t in self.tokens], dtype=np.int64)
        self.starts = np.concatenate(([0], np.cumsum(sizes)))
        self.n_tokens = int(self.starts[-1])
        self.has_loss_mask = any(m is not None for m in self.loss)

    @staticmethod
    def _check_index(manifest: Manifest, ds_path: str, n_tokens: int) -> None:
        index_path = ds_path + ".index"
        try:
            entry = manifest.file(index_path)
        except ArtifactError:
            return  # the index is optional for reading tokens; the trainer samples fixed windows
        ends = np.fromfile(manifest.path_of(entry), dtype=INDEX_DTYPE)
        if len(ends) and int(ends[-1]) != n_tokens:
            raise ArtifactError(
                f"{manifest.ref}: {index_path} ends at {int(ends[-1])} tokens but {ds_path} has {n_tokens}"
            )

    @staticmethod
    def _open_loss(manifest: Manifest, ds_path: str, n_tokens: int) -> np.memmap | None:
        try:
            entry = manifest.file(ds_path + ".loss")
        except ArtifactError:
            return None
        if entry.bytes != n_tokens:
            raise ArtifactError(
                f"{manifest.ref}: {entry.path} has {entry.bytes} bytes for {n_tokens} tokens (1 byte each)"
            )
        return np.memmap(manifest.path_of(entry), dtype=np.uint8, mode="r")

    def read(self, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens ``[start, start+length)`` as int64 and their loss flags as bool (all True if none)."""
        toks = np.empty(length, dtype=np.int64)
        keep = np.ones(length, dtype=bool)
        pos, shard = start, int(np.searchsorted(self.starts, start, side="right")) - 1
        while pos < start + length:
            lo = pos - int(self.starts[shard])
            n = min(start + length - pos, len(self.tokens[shard]) - lo)
            toks[pos - start : pos - start + n] = self.tokens[shard][lo : lo + n]
            mask = self.loss[shard]
            if mask is not None:
                keep[pos - start : pos - start + n] = mask[lo : lo + n] != 0
            pos, shard = pos + n, shard + 1
        return toks, keep

    def window(self, start: int, seq_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs, next-token targets and the targets' loss flags for one window."""
        toks, keep = self.read(start, seq_len + 1)
        return toks[:-1], toks[1:], keep[1:]


def _split_of(path: str, extra: dict) -> str:
    """The split a shard file belongs to: the manifest's ``split`` field, else its name prefix."""
    return extra.get("split") or Path(path).name.rsplit("_", 1)[0].removeprefix("sft-")


def source_of(path: str, extra: dict) -> str:
    """The source of a shard file: the manifest's ``source`` field, else ``instruct`` for ``sft-*``."""
    return extra.get("source") or ("instruct" if Path(path).name.startswith("sft-") else "text")


def sources(manifest: Manifest, split: str) -> list[str]:
    """The sources with at least one token in ``split``, sorted."""
    found = {
        source_of(f.path, f.extra)
        for f in manifest.files
        if f.path.endswith(".ds") and f.bytes and _split_of(f.path, f.extra) == split
    }
    return sorted(found)


@dataclass
class Batch:
    """Token ids ``x``, targets ``y`` and ``loss_mask`` (bool, True = train on it), all ``[B, T]``."""

    x: torch.Tensor
    y: torch.Tensor
    loss_mask: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        nb = device.type == "cuda"
        return Batch(*(t.to(device, non_blocking=nb) for t in (self.x, self.y, self.loss_mask)))


def _stack(windows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Batch:
    x, y, m = (torch.from_numpy(np.stack(parts)) for parts in zip(*windows, strict=True))
    return Batch(x, y, m)


class WindowSampler:
    """Deterministic, resumable order of the training windows of one stream.

    Epoch ``e`` starts its windows at an offset in ``[0, seq_len)`` and shuffles them with a generator
    seeded from ``(seed, e)``; ``state_dict()`` is ``{"epoch", "cursor"}`` and is all a resume needs.
    """

    def __init__(self, stream: TokenStream, seq_len: int, seed: int) -> None:
        if stream.n_tokens < seq_len + 1:
            raise ArtifactError(
                f"the {stream.split!r} split{f' of source {stream.source!r}' if stream.source else ''} has "
                f"{stream.n_tokens} tokens, fewer than one window of seq_len+1 = {seq_len + 1}"
            )
        self.stream, self.seq_len, self.seed = stream, seq_len, seed
        self.epoch, self.cursor = 0, 0
        self._order_epoch: int | None = None

    def _epoch_windows(self) -> tuple[int, torch.Tensor]:
        if self._order_epoch != self.epoch:
            gen = torch.Generator().manual_seed(_mix_seed(self.seed, self.epoch))
            offset = int(torch.randint(self.seq_len, (1,), generator=gen))
            n = (self.stream.n_tokens - 1 - offset) // self.seq_len
            if n == 0:  # the offset left less than one window: fall back to the start
                offset, n = 0, (self.stream.n_tokens - 1) // self.seq_len
            self._offset, self._order = offset, torch.randperm(n, generator=gen)
            self._order_epoch = self.epoch
        return self._offset, self._order

    def next_start(self) -> int:
        """Token offset of the next window."""
        offset, order = self._epoch_windows()
        start = offset + int(order[self.cursor]) * self.seq_len
        self.cursor += 1
        if self.cursor == len(order):
            self.epoch, self.cursor = self.epoch + 1, 0
        return start

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])


class BatchSampler:
    """Training batches from one or more weighted streams, deterministic and resumable.

    ``streams`` maps a name (a source, or ``"all"``) to its stream and ``weights`` gives each name's
    relative share of windows. ``next_batch(rank, world)`` draws the global batch of
    ``batch_size * world`` windows and returns the ``rank``-th slice of ``batch_size``.
    """

    def __init__(
        self,
        streams: dict[str, TokenStream],
        weights: dict[str, float],
        batch_size: int,
        seq_len: int,
        seed: int,
    ) -> None:
        self.names = sorted(n for n in streams if weights.get(n, 0) > 0)
        if not self.names:
            raise ArtifactError(
                f"no stream has a positive weight (streams {sorted(streams)}, weights {weights})"
            )
        total = sum(weights[n] for n in self.names)
        self.probs = np.array([weights[n] / total for n in self.names])
        self.streams = {n: streams[n] for n in self.names}
        self.orders = {n: WindowSampler(streams[n], seq_len, _mix_seed(seed, n)) for n in self.names}
        self.batch_size, self.seq_len, self.seed = batch_size, seq_len, seed
        self.batches = 0

    def next_batch(self, rank: int = 0, world: int = 1) -> Batch:
        rng = np.random.default_rng(_mix_seed(self.seed, "mix", self.batches))
        picks = rng.choice(len(self.names), size=self.batch_size * world, p=self.probs)
        starts = [(self.names[i], self.orders[self.names[i]].next_start()) for i in picks]
        self.batches += 1
        mine = starts[rank * self.batch_size : (rank + 1) * self.batch_size]
        return _stack([self.streams[n].window(s, self.seq_len) for n, s in mine])

    def __iter__(self) -> Iterator[Batch]:
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        return {"batches": self.batches, "streams": {n: o.state_dict() for n, o in self.orders.items()}}

    def load_state_dict(self, state: dict) -> None:
        if sorted(state["streams"]) != self.names:
            raise ArtifactError(
                f"the checkpoint's data streams {sorted(state['streams'])} differ from {self.names}"
            )
        self.batches = int(state["batches"])
        for n, s in state["streams"].items():
            self.orders[n].load_state_dict(s)


def eval_batches(stream: TokenStream, n_windows: int, batch_size: int, seq_len: int) -> list[Batch]:
    """A fixed set of up to ``n_windows`` validation windows spread evenly over the split.

    Fixed, so validation losses of different steps (and different runs on the same shards) compare.
    """
    available = (stream.n_tokens - 1) // seq_len
    if available == 0:
        return []
    picks = np.unique(np.linspace(0, available - 1, num=min(n_windows, available)).astype(np.int64))
    windows = [stream.window(int(i) * seq_len, seq_len) for i in picks]
    return [_stack(windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)]
