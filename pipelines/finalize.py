"""Turn a curation work folder whose phases are all done into the corpus layout of ``docs/formats.md``.

``documents/*.parquet``, ``rejects/*.parquet`` (written by ``pipelines/corpus_files.py``, which its
readers use too), ``stats.json`` and, when the recipe deduplicates, ``dedup_index.npy``. Rows are
sorted by input order (input file, line) through an external sort (``pipelines/external_sort.py``:
sorted runs on disk, merged while the parquet files are written), so memory does not grow with the
corpus, and files are cut at a fixed row count: the same inputs and recipe give byte-identical
parquet files whatever the worker count, and the published artifact version is stable.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pipelines.corpus_files import write_corpus_files
from pipelines.external_sort import sorted_stream
from pipelines.phases import phase_plan
from pipelines.recipe import Recipe
from pipelines.stages.accounting import REASON_KEY, iter_records, reject_reason, summarize
from pipelines.stages.dedup_cluster import write_dedup_index
from pipelines.work_folder import DEDUP_DIR, DEDUP_INDEX, done_entry, phase_dir


def finalize(work_dir: Path, out_dir: Path, recipe: Recipe, seconds_in_stats: bool = True) -> dict[str, Any]:
    """Write the corpus layout from a work folder whose phases are all done; return the stats."""
    work_dir, out_dir = Path(work_dir), Path(out_dir)
    phases = phase_plan(recipe)
    entries = []
    for phase in phases:
        done = done_entry(work_dir, phases, phase.name)
        if done is None:
            raise RuntimeError(f"phase {phase.name!r} has not finished; run it before finalize")
        entries += done["stages"]
    stats = summarize(entries)

    last = phase_dir(work_dir, phases, [p.name for p in phases if p.moves_documents][-1])
    documents = (_row(r) for r in iter_records(last / "kept"))
    rejects = (
        _row(r, stage=stage)
        for phase in phases
        for stage in phase.stages
        for r in iter_records(phase_dir(work_dir, phases, phase.name) / "rejects" / stage)
    )
    # Input order with bounded memory: sorted runs on disk, merged while the parquet files are written.
    with tempfile.TemporaryDirectory(prefix="sort-", dir=work_dir) as spill:
        write_corpus_files(
            out_dir,
            sorted_stream(documents, _order, Path(spill) / "documents"),
            sorted_stream(rejects, _order, Path(spill) / "rejects"),
            rows_per_file=recipe.output.rows_per_file,
            compression=recipe.output.compression,
        )
    if "dedup" in recipe.stages:
        write_dedup_index(recipe.dedup, work_dir / DEDUP_DIR, out_dir / DEDUP_INDEX)
    written = stats if seconds_in_stats else _without_seconds(stats)
    (out_dir / "stats.json").write_text(json.dumps(written, indent=1, ensure_ascii=False) + "\n")
    return stats


def _row(record: dict[str, Any], stage: str | None = None) -> dict[str, Any]:
    metadata = dict(record.get("metadata", {}))
    row = {"id": record["id"], "text": record.get("text", ""), "source": str(metadata.pop("source", ""))}
    if stage is not None:
        row["stage"] = stage
        row["reason"] = reject_reason(record)
        metadata.pop(REASON_KEY, None)
    row["_order"] = (metadata.get("input_file", ""), metadata.get("input_line", 0), record["id"])
    row["metadata"] = json.dumps(metadata, ensure_ascii=False, sort_keys=True)
    return row


def _order(row: dict[str, Any]) -> tuple[str, int, str]:
    """Input order (input file, line, id): the order rows are written in, whatever the worker count."""
    return row["_order"]


def _without_seconds(stats: dict[str, Any]) -> dict[str, Any]:
    return {**stats, "stages": [{**s, "seconds": None} for s in stats["stages"]]}
