"""Token shards in, ``(x, y, loss_mask)`` batches out: the trainer's only view of the data.

The trainer reads nothing but a shards manifest and the files it lists (format in
``docs/formats.md``), through ``garimpo.core.formats``, the module the shard writer uses too. ``open_shards`` loads the manifest and refuses it unless every file has its
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

from garimpo.core import MANIFEST, ArtifactError, ArtifactStore, Manifest, load_manifest, verify_or_raise
from garimpo.core.formats import check_manifest, open_loss, open_tokens, shard_entries


def open_shards(shards: str | Path, artifacts_root: str | Path = "artifacts") -> Manifest:
    """Load and verify a shards version: a folder path, or a reference ``shards/<name>[/<version>]``.

    A bare ``<name>[/<version>]`` is read as a shards reference too. Raises ``ArtifactError`` naming
    the problem when a file is missing, truncated or altered, or the manifest is not uint16 shards.
    """
    path = Path(shards)
    if (path / MANIFEST).is_file() or path.name == MANIFEST:
        manifest = load_manifest(path)
    else:
        ref = str(shards).strip("/")
        if not ref.startswith("shards/"):
            ref = "shards/" + ref
        manifest = ArtifactStore(artifacts_root).load_ref(ref)
    check_manifest(manifest)
    verify_or_raise(manifest)
    return manifest


def _mix_seed(*parts: int | str) -> int:
    """A 63-bit seed from several integers or names, with no collisions like seed+epoch would give."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class TokenStream:
    """The ``.ds`` shards of one split as one read-only token stream, with its loss mask if any."""

    def __init__(self, manifest: Manifest, split: str, source: str | None = None) -> None:
        self.split, self.source = split, source
        self.tokens: list[np.ndarray] = []
        self.loss: list[np.ndarray | None] = []
        for entry in shard_entries(manifest, split, source):
            if entry.bytes == 0:
                continue  # an empty shard holds no window (and an empty file cannot be mapped)
            tokens = open_tokens(manifest, entry)
            self.tokens.append(tokens)
            self.loss.append(open_loss(manifest, entry, len(tokens)))
        sizes = np.array([len(t) for t in self.tokens], dtype=np.int64)
        self.starts = np.concatenate(([0], np.cumsum(sizes)))
        self.n_tokens = int(self.starts[-1])
        self.has_loss_mask = any(m is not None for m in self.loss)

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


@dataclass
class Batch:
    """Token ids ``x``, targets ``y`` and ``loss_mask`` (bool, True = train on it), all ``[B, T]``."""

    x: torch.Tensor
    y: torch.Tensor
    loss_mask: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        """On CUDA: pinned, then copied asynchronously (``non_blocking`` needs page-locked memory)."""
        if device.type != "cuda":
            return Batch(*(t.to(device) for t in (self.x, self.y, self.loss_mask)))
        return Batch(
            *(t.pin_memory().to(device, non_blocking=True) for t in (self.x, self.y, self.loss_mask))
        )


class Prefetcher:
    """One optimizer step's micro-batches, read and sent to the device one step ahead.

    ``prefetch()`` after the last backward of a step has been queued lets the next step's windows be
    read, stacked, pinned and copied while the GPU is still busy. ``state_dict()`` is the sampler's
    position before any batch fetched but not yet used, so a checkpoint resumes exactly.
    """

    def __init__(
        self, sampler: BatchSampler, n_micro: int, rank: int, world: int, device: torch.device
    ) -> None:
        self.sampler, self.n_micro, self.rank, self.world, self.device = sampler, n_micro, rank, world, device
        self._pending: tuple[dict, list[tuple[Batch, int]]] | None = None

    def _fetch(self) -> tuple[dict, list[tuple[Batch, int]]]:
        state = self.sampler.state_dict()
        batches = [self.sampler.next_batch(self.rank, self.world) for _ in range(self.n_micro)]
        return state, [(b.to(self.device), int(b.loss_mask.sum())) for b in batches]

    def prefetch(self) -> None:
        if self._pending is None:
            self._pending = self._fetch()

    def take(self) -> list[tuple[Batch, int]]:
        """The next step's ``(batch on the device, kept targets)`` pairs."""
        self.prefetch()
        _, batches = self._pending
        self._pending = None
        return batches

    def state_dict(self) -> dict:
        return self._pending[0] if self._pending is not None else self.sampler.state_dict()


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
