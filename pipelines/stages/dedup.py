"""Dedup stage: exact and MinHash near-duplicate removal in one process, holding only signatures.

Why one process rather than datatrove's 4-stage MinHash: garimpo's corpora are up to ~1e5-1e6
documents on one machine, where one in-memory LSH table holds every signature, sees all documents in
the same run and needs no signature/bucket files. datatrove's ``MinhashDedupSignature -> Buckets ->
Cluster -> Filter`` is the path for multi-machine corpora.

Memory: documents stream to a temporary spill file while only their order key, id, exact-text hash
and MinHash signature (bands x rows uint32: 400 bytes in the pt recipe) stay in memory; decisions are
made on those, then the spill file is read back once. Texts are never all in memory at once.

Both checks use the pipeline's order key (input file, line), so the kept copy is the first one in input
order whatever the number of workers upstream. Exact duplicates match on a hash of the case-folded,
whitespace-collapsed text; near duplicates on word 5-gram MinHash signatures through LSH (the recipe's
bands x rows; candidates confirmed on their signatures, see DedupSettings.min_similarity). The
signatures are computed with numpy in one pass per document (datasketch rebuilds its permutations for
every MinHash object and imports scipy); the scheme is datasketch's: 32-bit shingle hashes, universal
hashing ``(a*h + b) mod (2^61 - 1)`` truncated to 32 bits. Greedy clustering: a document joins the
cluster of the earliest kept document it matches. The kept document records ``dup_cluster_size``
(1 when unique); a dropped one records ``duplicate_of``.

Cross-run dedup: `DedupIndex` is the kept documents' ids, exact hashes and signatures, saved as one
small ``.npy`` file inside a corpus version; a later run given that index rejects documents that
duplicate the earlier version too (``duplicate_of`` is then the earlier version's document id).
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
import tempfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.typeshelper import StatHints

from pipelines.recipe import DedupSettings
from pipelines.stages.accounting import REASON_KEY
from pipelines.stages.read import order_key

_WORD = re.compile(r"\w+")
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_SHIFT = np.uint64(61)
_BLOCK = 4096  # shingles hashed per numpy block, bounding memory on very long documents


def exact_key(text: str) -> bytes:
    """16-byte hash of the text with case and whitespace differences removed."""
    return hashlib.blake2b(" ".join(text.casefold().split()).encode("utf-8"), digest_size=16).digest()


def _shingle_set(text: str, n: int) -> set[bytes]:
    words = [w.encode("utf-8") for w in _WORD.findall(text.casefold())]
    if len(words) <= n:
        return {b" ".join(words)}
    return set(map(b" ".join, zip(*(words[i : len(words) - n + 1 + i] for i in range(n)), strict=True)))


def shingles(text: str, n: int) -> list[bytes]:
    """Distinct word n-grams of the case-folded text (the whole text when it is shorter than n words)."""
    return sorted(_shingle_set(text, n))


class MinHasher:
    """MinHash signatures of word n-gram sets, ``bands * rows`` uint32 values per document."""

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        rng = np.random.RandomState(settings.seed)
        n = settings.bands * settings.rows
        self.a = rng.randint(1, int(_MERSENNE), size=n, dtype=np.uint64)
        self.b = rng.randint(0, int(_MERSENNE), size=n, dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        shingle_set = _shingle_set(text, self.settings.ngram)
        hashes = np.fromiter(map(zlib.crc32, shingle_set), dtype=np.uint64, count=len(shingle_set))
        signature = np.full(self.a.shape, _MAX_HASH, dtype=np.uint64)
        for start in range(0, len(hashes), _BLOCK):
            # uint64 products wrap around, exactly as in datasketch; then mod 2^61 - 1 without a division:
            # 2^61 = 1 (mod 2^61 - 1), so fold the top 3 bits onto the rest, and subtract once if needed.
            permuted = np.multiply.outer(hashes[start : start + _BLOCK], self.a)
            permuted += self.b
            high = permuted >> _SHIFT
            permuted &= _MERSENNE
            permuted += high
            over = permuted >= _MERSENNE
            if over.any():
                permuted[over] -= _MERSENNE
            permuted &= _MAX_HASH
            np.minimum(signature, permuted.min(axis=0), out=signature)
        return signature.astype(np.uint32)

    def band_keys(self, signature: np.ndarray) -> list[bytes]:
        raw = signature.tobytes()
        width = self.settings.rows * signature.itemsize
        return [raw[i * width : (i + 1) * width] for i in range(self.settings.bands)]


@dataclass
class DedupIndex:
    """Ids, exact hashes and MinHash signatures of a corpus's kept documents (cross-run dedup)."""

    ids: list[str] = field(default_factory=list)
    exact: list[bytes] = field(default_factory=list)
    signatures: list[np.ndarray] = field(default_factory=list)

    def add(self, doc_id: str, exact: bytes, signature: np.ndarray | None) -> None:
        self.ids.append(doc_id)
        self.exact.append(exact)
        if signature is not None:
            self.signatures.append(signature)

    def save(self, path: Path) -> None:
        """One ``.npy`` structured array (~0.5 KB per document); same content, same bytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        width = self.signatures[0].shape[0] if self.signatures else 0
        id_len = max((len(i) for i in self.ids), default=1)
        dtype = [("id", f"U{id_len}"), ("exact", "S16"), ("signature", "u4", (width,))]
        table = np.zeros(len(self.ids), dtype=dtype)
        table["id"] = self.ids
        table["exact"] = self.exact
        if width:
            table["signature"] = np.stack(self.signatures)
        np.save(path, table, allow_pickle=False)

    @classmethod
    def load(cls, path: Path) -> DedupIndex:
        table = np.load(path, allow_pickle=False)
        width = table.dtype["signature"].shape[0] if len(table.dtype) else 0
        return cls(
            ids=[str(i) for i in table["id"]],
            exact=[bytes(e) for e in table["exact"]],
            signatures=list(table["signature"]) if width else [],
        )


class _Confirmation:
    """The exact check of one document against its LSH candidates (``min_jaccard``), shingling the
    document once however many candidates it has."""

    def __init__(self, settings: DedupSettings, text_of: Callable[[int], str] | None, position: int) -> None:
        self.settings, self.text_of, self.position = settings, text_of, position
        self._shingles: set[bytes] | None = None

    def __call__(self, agreement: float, candidate: int | None) -> bool:
        s = self.settings
        if not s.min_jaccard:
            return True
        if candidate is None or self.text_of is None:  # an earlier version's document: no text here
            return agreement >= s.min_jaccard
        if self._shingles is None:
            self._shingles = _shingle_set(self.text_of(self.position), s.ngram)
        other = _shingle_set(self.text_of(candidate), s.ngram)
        return len(self._shingles & other) / max(len(self._shingles | other), 1) >= s.min_jaccard


@dataclass
class _Entry:
    key: tuple[str, int]
    position: int  # arrival position, i.e. where the document sits in the spill file
    id: str
    exact: bytes
    signature: np.ndarray | None


class Deduplicator(PipelineStep):
    """Keeps the first document of every exact or near-duplicate cluster; rejects the rest with a reason."""

    name = "🫂 Dedup (exact + MinHash)"
    type = "🫂 - DEDUP"

    def __init__(
        self,
        settings: DedupSettings | None = None,
        exclusion_writer=None,
        against: list[DedupIndex] | None = None,
        index_out: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or DedupSettings()
        self.exclusion_writer = exclusion_writer
        self.against = against or []
        self.index_out = index_out
        self._hasher: MinHasher | None = None

    @property
    def hasher(self) -> MinHasher:
        if self._hasher is None:
            self._hasher = MinHasher(self.settings)
        return self._hasher

    def _entry(self, doc: Document, position: int) -> _Entry:
        signature = self.hasher.signature(doc.text) if self.settings.near else None
        return _Entry(order_key(doc), position, doc.id, exact_key(doc.text), signature)

    def decide(
        self, entries: list[_Entry], text_of: Callable[[int], str] | None = None
    ) -> tuple[dict[int, tuple[str, str] | int], DedupIndex]:
        """Per arrival position: the kept cluster size (int) or (reason, duplicate_of id); and the kept index.

        Entries are processed in order-key order; earlier corpus versions (``against``) come first.
        ``text_of(position)`` gives a document's text for the exact confirmation (``min_jaccard``).
        """
        s = self.settings
        tables: list[dict[bytes, int]] = [{} for _ in range(s.bands)]
        representative: dict[bytes, int] = {}  # exact hash -> cluster number
        cluster_ids: list[str] = []
        cluster_position: list[int | None] = []  # arrival position of the kept doc; None: earlier version
        cluster_signature: list[np.ndarray | None] = []
        sizes: dict[int, int] = {}

        def add_cluster(doc_id: str, exact: bytes, signature, position: int | None, bands=None) -> int:
            number = len(cluster_ids)
            cluster_ids.append(doc_id)
            cluster_position.append(position)
            cluster_signature.append(signature)
            representative.setdefault(exact, number)
            if signature is not None and s.near:
                for table, band in zip(tables, bands or self.hasher.band_keys(signature), strict=True):
                    table.setdefault(band, number)
            return number

        for index in self.against:
            sigs = index.signatures if s.near and index.signatures else [None] * len(index.ids)
            for doc_id, exact, sig in zip(index.ids, index.exact, sigs, strict=True):
                add_cluster(doc_id, exact, sig, None)

        decisions: dict[int, tuple[str, str] | int] = {}
        kept = DedupIndex()
        for entry in sorted(entries, key=lambda e: (e.key, e.position)):
            match, reason, bands = None, None, None
            if s.exact and entry.exact in representative:
                match, reason = representative[entry.exact], "exact_duplicate"
            elif s.near:
                bands = self.hasher.band_keys(entry.signature)
                hits = sorted({t[b] for t, b in zip(tables, bands, strict=True) if b in t})
                confirm = _Confirmation(s, text_of, entry.position)
                for hit in hits:
                    agreement = float(np.mean(cluster_signature[hit] == entry.signature))
                    if agreement >= s.min_similarity and confirm(agreement, cluster_position[hit]):
                        match, reason = hit, "near_duplicate"
                        representative.setdefault(entry.exact, match)
                        break
            if match is not None:
                decisions[entry.position] = (reason, cluster_ids[match])
                if cluster_position[match] is not None:
                    sizes[cluster_position[match]] += 1
                continue
            add_cluster(entry.id, entry.exact, entry.signature, entry.position, bands)
            sizes[entry.position] = 1
            kept.add(entry.id, entry.exact, entry.signature)
        for position, size in sizes.items():
            decisions[position] = size
        return decisions, kept

    def dedupe(self, docs: list[Document]) -> tuple[list[Document], list[Document]]:
        """Split in-memory documents into (kept, rejected), both in input order."""
        decisions, _ = self.decide([self._entry(d, i) for i, d in enumerate(docs)], lambda i: docs[i].text)
        kept, rejected = [], []
        for i, doc in sorted(enumerate(docs), key=lambda p: (order_key(p[1]), p[0])):
            (kept if self._apply(doc, decisions[i]) else rejected).append(doc)
        return kept, rejected

    @staticmethod
    def _apply(doc: Document, decision: tuple[str, str] | int) -> bool:
        if isinstance(decision, int):
            doc.metadata["dup_cluster_size"] = decision
            return True
        doc.metadata[REASON_KEY], doc.metadata["duplicate_of"] = decision
        return False

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with tempfile.TemporaryFile(prefix="garimpo-dedup-") as spill:
            entries = []
            offsets = array("q")  # where each document starts in the spill file, for the confirmation
            with self.track_time("signatures"):
                for position, doc in enumerate(data):
                    entries.append(self._entry(doc, position))
                    offsets.append(spill.tell())
                    pickle.dump((doc.text, doc.id, doc.media, doc.metadata), spill, pickle.HIGHEST_PROTOCOL)

            def text_of(position: int) -> str:
                spill.seek(offsets[position])
                return pickle.load(spill)[0]

            with self.track_time("clusters"):
                decisions, kept_index = self.decide(entries, text_of)
            del entries
            if self.index_out is not None:
                kept_index.save(Path(self.index_out))
            spill.seek(0)

            def restored():
                for position in range(len(decisions)):
                    text, doc_id, media, metadata = pickle.load(spill)
                    yield Document(text=text, id=doc_id, media=media, metadata=metadata), decisions[position]

            yield from emit_decided(self, restored(), self.exclusion_writer, rank)


def emit_decided(
    step: PipelineStep,
    decided: Iterable[tuple[Document, tuple[str, str] | int]],
    exclusion_writer: DiskWriter | None,
    rank: int,
) -> Iterator[Document]:
    """Apply dedup decisions to documents: yield the kept ones, write the rejected ones with their
    reason, and keep ``step``'s datatrove stats (total, forwarded, dropped, ``dropped_<reason>``)."""
    with exclusion_writer if exclusion_writer else contextlib.nullcontext() as writer:
        for doc, decision in decided:
            step.stat_update(StatHints.total)
            if Deduplicator._apply(doc, decision):
                step.stat_update(StatHints.forwarded)
                yield doc
            else:
                step.stat_update(StatHints.dropped)
                step.stat_update(f"dropped_{doc.metadata[REASON_KEY]}")
                if writer:
                    writer.write(doc, rank)
