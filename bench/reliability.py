"""Reliability figures: hostile inputs with a 50 MB line, and builds killed at random moments.

* hostile: ``tests.fixtures.hostile_corpus`` with its 50 MB line, read with the declared formats and
  curated (``tests/test_reliability_hostile.run_hostile``, one subprocess): items whose outcome
  differs from the expected table, and the peak RSS.
* huge_line_direct: the same 50 MB line handed straight to ``pipelines.curate.curate`` as JSONL (no
  source reader to bound it): whether the run completes, what became of the line, peak RSS.
* kill: 10 trials each of `clean-corpus` and `build-shards` SIGKILLed at seeded random moments and
  rerun (``tests/test_reliability_kill``): trials, kills that landed mid-build, passes, failures.

Prints one JSON line. Takes a few minutes on two cores.

    .venv/bin/python -m bench.reliability
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq

from tests.fixtures.hostile_corpus import write_hostile_corpus
from tests.test_reliability_hostile import load_outputs, mismatches, run_hostile
from tests.test_reliability_kill import curate_trials, shards_trials

REPO = Path(__file__).resolve().parents[1]
BIG_LINE_MB = 50
KILL_TRIALS = 10

DIRECT = """
import json, sys
from pathlib import Path
from loguru import logger
from pipelines.curate import curate
logger.disable("datatrove")
stats = curate([Path(sys.argv[1])], Path(sys.argv[2]))
peak = int(next(x.split()[1] for x in open("/proc/self/status") if x.startswith("VmHWM:")))  # own peak, kB
print(json.dumps({"stats": stats, "peak_rss_mb": peak / 1024}))
"""


def hostile(work: Path) -> dict:
    table = write_hostile_corpus(work / "corpus", seed=0, big_line_mb=BIG_LINE_MB)
    started = time.perf_counter()
    summary = run_hostile(work / "corpus", work / "out")
    seconds = time.perf_counter() - started
    wrong = mismatches({"table": table, **load_outputs(work / "out")})
    return {
        "items": len(table["expected"]),
        "skipped_items": table["skipped"],
        "mismatches": len(wrong),
        "mismatch_examples": wrong[:5],
        "inputs_read": summary["read"]["inputs"],
        "documents_kept": summary["curate"]["documents_kept"],
        "instruct_in": summary["instruct"]["documents_in"],
        "big_line_mb": BIG_LINE_MB,
        "input_mb": round(
            sum(p.stat().st_size for p in (work / "corpus").rglob("*") if p.is_file()) / 1e6, 1
        ),
        "peak_rss_mb": round(summary["peak_rss_mb"]),
        "seconds": round(seconds, 1),
    }


def huge_line_direct(work: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DIRECT, str(work / "corpus" / "huge" / "huge.jsonl"), str(work / "direct")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    if done.returncode != 0:
        return {"completed": False, "error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rejects = [
        r
        for f in sorted((work / "direct" / "rejects").glob("*.parquet"))
        for r in pq.read_table(f).to_pylist()
    ]
    return {
        "completed": True,
        "documents_in": result["stats"]["documents_in"],
        "documents_kept": result["stats"]["documents_kept"],
        "huge_line": [(r["stage"], r["reason"]) for r in rejects if len(r["text"]) > 1_000_000],
        "peak_rss_mb": round(result["peak_rss_mb"]),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="garimpo-reliability-") as tmp:
        work = Path(tmp)
        figures = {"hostile": hostile(work), "huge_line_direct": huge_line_direct(work)}
        kills = [
            curate_trials(work / "kill-curate", KILL_TRIALS, seed=1),
            shards_trials(work / "kill-shards", KILL_TRIALS, seed=2),
        ]
    figures["kill"] = {
        k.scenario: {**asdict(k), "reference_seconds": round(k.reference_seconds, 2)} for k in kills
    }
    figures["failures_found"] = figures["hostile"]["mismatches"] + sum(len(k.failures) for k in kills)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
