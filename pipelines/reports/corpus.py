"""The report of a corpus version: what each stage let through, what it dropped and why, shown on a page.

Counts per stage come from the manifest's stats; everything else is read from the version's own
parquet files in two streaming passes (rejects, then documents): bytes per stage, length and
language-score histograms, dedup cluster sizes, and samples. Samples are the documents whose id hashes
lowest, per reason for the rejected ones, so a rebuild of the same corpus shows the same documents and
a sample is spread over every input file rather than taken from the first one.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from garimpo.core import Manifest
from garimpo.core.html import bar_chart, esc, histogram, report_path, section, table, write_page
from pipelines.corpus_files import DOCUMENTS_DIR, REJECTS_DIR, record_batches

SAMPLES_PER_REASON = 3
KEPT_SAMPLES = 6
SAMPLE_CHARS = 400
PROGRESS_EVERY = 100_000  # rows between two progress lines
# metadata fields that explain a rejection, shown beside the highlighted reason
EVIDENCE = ("language", "language_score", "duplicate_of", "read_error_detail", "quality_score")


@dataclass
class CorpusFacts:
    """What the report shows, gathered from a corpus version in one pass over each folder."""

    stages: list[dict[str, Any]]
    rejected_bytes: Counter = field(default_factory=Counter)  # per stage
    kept_bytes: int = 0
    kept_lengths: list[int] = field(default_factory=list)
    rejected_lengths: list[int] = field(default_factory=list)
    kept_scores: list[float] = field(default_factory=list)
    cluster_sizes: Counter = field(default_factory=Counter)
    rejected_samples: dict[tuple[str, str], list[tuple[bytes, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    kept_samples: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)


def corpus_report_path(corpus: Manifest) -> Path:
    """``<root>/reports/corpus/<name>/<version>.html`` of the store the version was loaded from."""
    if corpus.root is None:
        raise ValueError(f"{corpus.ref}: manifest was not loaded from disk")
    return report_path(corpus.root.parents[2], corpus.ref)


def write_corpus_report(
    corpus: Manifest, out: Path | None = None, progress: Callable[[str], None] | None = None
) -> Path:
    """Write the HTML report of a corpus version (default: ``corpus_report_path``); returns its path.

    ``progress`` is told how many rows were read, every ``PROGRESS_EVERY`` rows and at the end.
    """
    facts = gather(corpus, progress)
    return write_page(out or corpus_report_path(corpus), f"{corpus.ref}", _sections(corpus, facts))


def gather(corpus: Manifest, progress: Callable[[str], None] | None = None) -> CorpusFacts:
    facts = CorpusFacts(stages=list(corpus.stats.get("stages", [])))
    seen = {"rejected": 0, "kept": 0}

    def tick(folder: str, rows: int) -> None:
        before, seen[folder] = seen[folder], seen[folder] + rows
        if progress is not None and before // PROGRESS_EVERY != seen[folder] // PROGRESS_EVERY:
            progress(f"{corpus.ref}: read {seen['rejected']:,} rejected and {seen['kept']:,} kept documents")

    columns = ["id", "text", "stage", "reason", "metadata"]
    for batch in record_batches(corpus, REJECTS_DIR, columns):
        sizes = pc.binary_length(batch.column("text")).to_pylist()
        rows = batch.to_pylist()
        for row, size in zip(rows, sizes, strict=True):
            facts.rejected_bytes[row["stage"]] += size or 0
            facts.rejected_lengths.append(len(row["text"] or ""))
            _offer(facts.rejected_samples[(row["stage"], row["reason"])], row, SAMPLES_PER_REASON)
        tick("rejected", batch.num_rows)
    for batch in record_batches(corpus, DOCUMENTS_DIR, ["id", "text", "source", "metadata"]):
        facts.kept_bytes += pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0
        for row in batch.to_pylist():
            facts.kept_lengths.append(len(row["text"] or ""))
            meta = _metadata(row)
            if isinstance(meta.get("language_score"), int | float):
                facts.kept_scores.append(float(meta["language_score"]))
            if isinstance(meta.get("dup_cluster_size"), int):
                facts.cluster_sizes[meta["dup_cluster_size"]] += 1
            _offer(facts.kept_samples, row, KEPT_SAMPLES)
        tick("kept", batch.num_rows)
    if progress is not None:
        progress(f"{corpus.ref}: read {seen['rejected']:,} rejected and {seen['kept']:,} kept documents")
    return facts


def _offer(heap: list[tuple[bytes, dict[str, Any]]], row: dict[str, Any], k: int) -> None:
    """Keep the ``k`` rows whose id hashes lowest (a max-heap on the negated hash)."""
    key = hashlib.blake2b(str(row["id"]).encode(), digest_size=8).digest()
    item = (bytes(255 - b for b in key), row)
    if len(heap) < k:
        heapq.heappush(heap, item)
    elif item[0] > heap[0][0]:
        heapq.heapreplace(heap, item)


def _ordered(heap: list[tuple[bytes, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for _, row in sorted(heap, key=lambda item: item[0], reverse=True)]


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(row.get("metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def funnel(facts: CorpusFacts) -> list[dict[str, Any]]:
    """Documents and bytes into and out of each stage, in recipe order.

    Bytes are those of the texts as stored (after normalization); the bytes entering a stage are the
    kept bytes plus every byte a later stage rejected.
    """
    rows, later = [], facts.kept_bytes + sum(facts.rejected_bytes.values())
    for s in facts.stages:
        dropped = facts.rejected_bytes.get(s["stage"], 0)
        rows.append(
            {
                "stage": s["stage"],
                "documents in": s["in"],
                "kept": s["kept"],
                "rejected": s["rejected"],
                "bytes in": later,
                "bytes kept": later - dropped,
            }
        )
        later -= dropped
    return rows


def _sections(corpus: Manifest, facts: CorpusFacts) -> list[str]:
    st = corpus.stats
    recipe = corpus.config.get("recipe", {})
    summary = table(
        [
            {"fact": "version", "value": corpus.ref},
            {"fact": "created", "value": corpus.created},
            {"fact": "recipe", "value": recipe.get("name", "")},
            {"fact": "inputs", "value": ", ".join(map(str, corpus.config.get("inputs", [])))},
            {"fact": "documents in", "value": st.get("documents_in", 0)},
            {"fact": "documents kept", "value": st.get("documents_kept", 0)},
            {"fact": "documents rejected", "value": st.get("documents_rejected", 0)},
            {"fact": "bytes kept", "value": facts.kept_bytes},
        ],
        cls="summary",
    )
    rows = funnel(facts)
    funnel_charts = '<div class="charts">' + bar_chart(
        "documents kept after each stage", [(r["stage"], r["kept"]) for r in rows]
    )
    funnel_charts += (
        bar_chart("bytes kept after each stage", [(r["stage"], r["bytes kept"]) for r in rows]) + "</div>"
    )
    reasons = [
        {
            "stage": s["stage"],
            "reason": reason,
            "documents": n,
            "share of stage input": f"{100 * n / s['in']:.2f}%" if s["in"] else "",
        }
        for s in facts.stages
        for reason, n in sorted(s.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return [
        section("Summary", summary, id="summary"),
        section("Funnel", table(rows, cls="funnel"), funnel_charts, id="funnel"),
        section("Reasons per stage", table(reasons, cls="reasons"), id="reasons"),
        section("Rejected documents, a sample per reason", _rejected(facts), id="rejected"),
        section("Kept documents, a sample", _kept(facts), id="kept"),
        section(
            "Lengths and language scores",
            '<div class="charts">'
            + histogram("kept document length", facts.kept_lengths, x_label="characters", log_x=True)
            + histogram("rejected document length", facts.rejected_lengths, x_label="characters", log_x=True)
            + histogram("language score of kept documents", facts.kept_scores, x_label="score")
            + "</div>",
            id="histograms",
        ),
        section("Dedup cluster sizes", _clusters(facts), id="dedup"),
    ]


def _rejected(facts: CorpusFacts) -> str:
    if not facts.rejected_samples:
        return '<p class="muted">no document was rejected</p>'
    parts = []
    order = {s["stage"]: i for i, s in enumerate(facts.stages)}
    groups = sorted(facts.rejected_samples.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0]))
    for (stage, reason), heap in groups:
        for row in _ordered(heap):
            meta = _metadata(row)
            evidence = ", ".join(f"{k}: {meta[k]}" for k in EVIDENCE if k in meta)
            parts.append(
                f'<div class="doc rejected" data-stage="{esc(stage)}" data-reason="{esc(reason)}">'
                f'<mark class="reason">{esc(stage)} · {esc(reason)}</mark> '
                f'<span class="muted">{esc(row["id"])}{" · " + esc(evidence) if evidence else ""}</span>\n'
                f"{_excerpt(row['text'])}</div>"
            )
    return "\n".join(parts)


def _kept(facts: CorpusFacts) -> str:
    if not facts.kept_samples:
        return '<p class="muted">no document was kept</p>'
    return "\n".join(
        f'<div class="doc kept"><span class="muted">{esc(row["id"])} · {esc(row.get("source", ""))}</span>\n'
        f"{_excerpt(row['text'])}</div>"
        for row in _ordered(facts.kept_samples)
    )


def _excerpt(text: str | None) -> str:
    text = text or ""
    if not text:
        return '<span class="muted">(empty text)</span>'
    cut = text[:SAMPLE_CHARS]
    return esc(cut) + (
        f'<span class="muted"> … ({len(text):,} characters)</span>' if len(text) > len(cut) else ""
    )


def _clusters(facts: CorpusFacts) -> str:
    if not facts.cluster_sizes:
        return '<p class="muted">no dedup cluster sizes recorded</p>'
    rows = [
        {"cluster size": size, "kept documents": n, "documents represented": size * n}
        for size, n in sorted(facts.cluster_sizes.items())
    ]
    chart = bar_chart(
        "kept documents by cluster size", [(f"size {r['cluster size']}", r["kept documents"]) for r in rows]
    )
    return table(rows, cls="clusters") + chart
