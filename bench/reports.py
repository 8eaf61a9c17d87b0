"""Benchmark the corpus report and lineage commands on real Portuguese; prints one JSON line.

Every JSONL file of ../shared/data/pt_text (news, academic text, literature, single sentences, tweets)
is curated with the shipped pt recipe through `garimpo curate` (not timed), then the commands a user
runs are timed as subprocesses: `garimpo report corpus/<name>` (two passes over the version's parquet
files, charts and samples), `garimpo lineage corpus/<name>/<version> --up` and the down walk
`garimpo lineage corpus/<name>/<version>` (which re-hashes the inputs it finds). Figures: documents
and MB in the version, seconds, MB/s of the report, and the page size.

    .venv/bin/python -m bench.reports
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from garimpo.core import ArtifactStore
from garimpo.core.html import report_path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data" / "pt_text"
GARIMPO = Path(sys.executable).parent / "garimpo"


def _timed(*args: str) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([str(GARIMPO), *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"garimpo {' '.join(args)} failed: {out.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    files = sorted(DATA.rglob("*.jsonl"))
    if not files:
        sys.exit(f"no real data at {DATA}")
    with tempfile.TemporaryDirectory(prefix="garimpo-bench-reports-") as tmp:
        root = Path(tmp) / "artifacts"
        curate_s = _timed("--artifacts", str(root), "curate", *map(str, files), "--name", "pt_text")
        corpus = ArtifactStore(root).load("corpus", "pt_text")
        version_mb = sum(f.bytes for f in corpus.files) / 1e6
        report_s = _timed("--artifacts", str(root), "report", "corpus/pt_text")
        page = report_path(root, corpus.ref)
        up_s = _timed("--artifacts", str(root), "lineage", corpus.ref, "--up")
        down_s = _timed("--artifacts", str(root), "lineage", corpus.ref)
        print(
            json.dumps(
                {
                    "input_files": len(files),
                    "input_mb": round(sum(f.stat().st_size for f in files) / 1e6, 2),
                    "documents_in": corpus.stats["documents_in"],
                    "documents_kept": corpus.stats["documents_kept"],
                    "version_mb": round(version_mb, 2),
                    "curate_s": round(curate_s, 2),
                    "report_s": round(report_s, 2),
                    "report_mb_per_s": round(version_mb / report_s, 2),
                    "report_page_kb": round(page.stat().st_size / 1e3, 1),
                    "lineage_up_s": round(up_s, 2),
                    "lineage_down_s": round(down_s, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
