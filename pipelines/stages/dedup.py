"""Dedup stage: exact and MinHash near-duplicate removal in one process.

Why one process and datasketch rather than datatrove's 4-stage MinHash: garimpo's corpora are up to
~1e5 documents on one machine, where a single `MinHashLSH` index holds every signature in memory, sees
all documents in the same run and needs no intermediate signature/bucket files. datatrove's
``MinhashDedupSignature -> Buckets -> Cluster -> Filter`` is the path for multi-machine corpora.

Both checks use the pipeline's order key (input file, line), so the kept copy is the first one in input
order whatever the number of workers upstream: documents are buffered and sorted first (the stage must
see everything anyway to know each cluster's final size). Exact duplicates match on a hash of the
case-folded, whitespace-collapsed text; near duplicates on word 5-gram MinHash signatures through LSH
with 14 bands x 8 rows (FineWeb's setting: pairs with Jaccard 0.75 are caught ~77% of the time, 0.85
~98%). Greedy clustering: a document joins the cluster of the earliest kept document it matches.
The kept document records ``dup_cluster_size`` (1 when unique); a dropped one records ``duplicate_of``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

from pipelines.recipe import DedupSettings
from pipelines.stages.accounting import REASON_KEY
from pipelines.stages.read import order_key

_WORD = re.compile(r"\w+")


def exact_key(text: str) -> str:
    """Hash of the text with case and whitespace differences removed."""
    return hashlib.blake2b(" ".join(text.casefold().split()).encode("utf-8"), digest_size=16).hexdigest()


def shingles(text: str, n: int) -> list[bytes]:
    """Distinct word n-grams of the case-folded text (the whole text when it is shorter than n words)."""
    words = _WORD.findall(text.casefold())
    if len(words) <= n:
        return [" ".join(words).encode("utf-8")]
    return sorted({" ".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)})


class Deduplicator(PipelineStep):
    """Keeps the first document of every exact or near-duplicate cluster; rejects the rest with a reason."""

    name = "🫂 Dedup (exact + MinHash)"
    type = "🫂 - DEDUP"

    def __init__(self, settings: DedupSettings | None = None, exclusion_writer=None) -> None:
        super().__init__()
        self.settings = settings or DedupSettings()
        self.exclusion_writer = exclusion_writer

    def _minhash(self, text: str):
        from datasketch import MinHash

        m = MinHash(num_perm=self.settings.bands * self.settings.rows, seed=self.settings.seed)
        m.update_batch(shingles(text, self.settings.ngram))
        return m

    def dedupe(self, docs: list[Document]) -> tuple[list[Document], list[Document]]:
        """Split documents into (kept, rejected), both in input order; see the module docstring."""
        from datasketch import MinHashLSH

        s = self.settings
        lsh = MinHashLSH(num_perm=s.bands * s.rows, params=(s.bands, s.rows)) if s.near else None
        representative: dict[str, int] = {}  # exact key -> index (in `kept`) of the cluster's kept doc
        kept: list[Document] = []
        rejected: list[Document] = []
        for doc in sorted(docs, key=order_key):
            key = exact_key(doc.text)
            if s.exact and key in representative:
                self._reject(doc, kept[representative[key]], "exact_duplicate", rejected)
                continue
            if lsh is not None:
                signature = self._minhash(doc.text)
                matches = lsh.query(signature)
                if matches:
                    first = kept[min(matches)]
                    representative.setdefault(key, min(matches))
                    self._reject(doc, first, "near_duplicate", rejected)
                    continue
                lsh.insert(len(kept), signature)
            representative[key] = len(kept)
            doc.metadata["dup_cluster_size"] = 1
            kept.append(doc)
        return kept, rejected

    @staticmethod
    def _reject(doc: Document, kept_doc: Document, reason: str, rejected: list[Document]) -> None:
        kept_doc.metadata["dup_cluster_size"] += 1
        doc.metadata["duplicate_of"] = kept_doc.id
        doc.metadata[REASON_KEY] = reason
        rejected.append(doc)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        docs = list(data)
        with self.track_time("stage"):
            kept, rejected = self.dedupe(docs)
        self.stat_update(StatHints.total, value=len(docs))
        self.stat_update(StatHints.dropped, value=len(rejected))
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for doc in rejected:
                self.stat_update(f"dropped_{doc.metadata[REASON_KEY]}")
                if writer:
                    writer.write(doc, rank)
        for doc in kept:
            self.stat_update(StatHints.forwarded)
            yield doc
