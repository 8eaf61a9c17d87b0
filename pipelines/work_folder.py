"""Where a curation run keeps its files: one folder per phase, its ``done.json``, and dedup's tables.

Written and read in one place because three parties walk the same folder: the phase runner
(``pipelines/curate.py``), which resumes from it, `finalize` (``pipelines/finalize.py``), which turns
it into the corpus layout, and the Prefect flow, which runs the phases one by one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.phases import Phase

DONE = "done.json"
RUN = "run.json"
# The kept documents' ids, exact hashes and MinHash signatures, shipped inside each corpus version so a
# later batch can be deduplicated against it cheaply (`publish_corpus(..., dedup_against=[...])`).
DEDUP_INDEX = "dedup_index.npy"
DEDUP_DIR = "dedup"
BOILERPLATE_DIR = "boilerplate"


def phase_dir(work_dir: Path, phases: list[Phase], name: str) -> Path:
    """The folder of phase ``name``: ``NN_<name>``, numbered in run order."""
    names = [p.name for p in phases]
    if name not in names:
        raise ValueError(f"phase {name!r} is not in this recipe's phases {names}")
    return work_dir / f"{names.index(name):02d}_{name}"


def done_entry(work_dir: Path, phases: list[Phase], name: str) -> dict[str, Any] | None:
    """The ``done.json`` entry of a finished phase, or None while it has not finished."""
    done = phase_dir(work_dir, phases, name) / DONE
    return json.loads(done.read_text()) if done.is_file() else None


def last_documents_phase(phases: list[Phase], index: int) -> str:
    """The name of the last phase before ``index`` that wrote documents (the one ``index`` reads)."""
    return next(p.name for p in reversed(phases[:index]) if p.moves_documents)
