"""Curation through the CLI at growing input sizes, 1 and 2 workers, and plain datatrove beside it; one JSON line.

The input is generated here: unique Portuguese documents, each 8–14 random real sentences drawn from
``../shared/data/pt_text`` (Bosque news and the literature chapters), about 1.6 KB each, written as
one JSONL file per size (kept under ``--work`` so a rerun does not write them again). Each run is
``garimpo curate FILE --workers W`` in a fresh process and a fresh artifact store, as a user would
start it. Per run:

- ``peak_rss_mb``: the largest resident set of any one process of the run (``RUSAGE_CHILDREN``, exact):
  what each worker needs, and what must stay flat as the corpus grows;
- ``peak_tree_rss_mb``: the largest sum over the whole process tree (sampled every 0.5 s): what the
  machine needs;
- ``peak_work_mb``: the largest size of the run's temporary folder (its work folder, sampled).

On the ``--speedup-size`` file the CLI runs again with 2 workers, and ``bench/datatrove_anchor.py``
(datatrove's own classes with the same thresholds, one task per file) runs on the ``--anchor-size``
file (default: the same) as the anchor; it is four to seven times slower than garimpo, so a smaller
anchor size keeps the bench short.

    .venv/bin/python -m bench.scale [--sizes 50,200,1000] [--speedup-size 200] [--anchor-size 50]
        [--work DIR] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.fixtures.processes import processes, tree

REPO = Path(__file__).resolve().parents[1]
PT_TEXT = REPO.parent / "shared" / "data" / "pt_text"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÂÊÔÃÕÀÇ«\"—-])")


def sentences() -> list[str]:
    """Every sentence of the multi-sentence pt_text corpora, 30–400 characters long."""
    files = [PT_TEXT / "bosque_docs.jsonl", *sorted((PT_TEXT / "literature").glob("*.jsonl"))]
    out: list[str] = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = record.get("text") or record.get("text_hardwrapped") or ""
            out += [
                s.strip() for s in SENTENCE_END.split(" ".join(text.split())) if 30 <= len(s.strip()) <= 400
            ]
    return out


def write_corpus(path: Path, megabytes: float, pool: list[str], seed: int) -> int:
    """Unique documents of 8–14 random sentences until the file holds ``megabytes``; returns their count.

    Written to a temporary name and renamed, so an interrupted bench never leaves a short file behind."""
    rng = random.Random(seed)
    target, written, n = int(megabytes * 1e6), 0, 0
    partial = path.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as f:
        while written < target:
            text = " ".join(rng.choice(pool) for _ in range(rng.randint(8, 14)))
            line = json.dumps({"id": f"doc-{n}", "text": text, "source": "bench"}, ensure_ascii=False) + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))
            n += 1
    partial.rename(path)
    return n


def corpus_file(work: Path, megabytes: float, pool: list[str]) -> tuple[Path, int]:
    """The generated corpus of this size (seeded by its size), written once per ``work`` folder."""
    path = work / f"pt-{megabytes:g}mb.jsonl"
    if not path.is_file():
        write_corpus(path, megabytes, pool, seed=int(megabytes * 1000))
    with path.open("rb") as f:
        return path, sum(1 for _ in f)


WRAPPER = (
    "import resource, subprocess, sys, json\n"
    "argv = json.loads(sys.argv[1])\n"
    "out = subprocess.run(argv, stdout=subprocess.PIPE, text=True)\n"
    "print(json.dumps({'rc': out.returncode, 'stdout': out.stdout,"
    " 'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)


def _tree_rss_kb(root: int) -> int:
    """Resident set summed over ``root`` and all its descendants."""
    procs = processes()
    return sum(procs[pid].rss_kb for pid in tree({root}, procs) if pid in procs)


def _folder_mb(folder: Path) -> float:
    total = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total / 1e6


def measured(argv: list[str], tmp: Path) -> dict:
    """Run ``argv`` with TMPDIR=``tmp``: exit code, stdout, wall, exact and sampled peaks."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "GARIMPO_PROGRESS": "0"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, json.dumps(argv)], stdout=subprocess.PIPE, text=True, env=env
    )
    peaks = {"tree": 0, "disk": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peaks["tree"] = max(peaks["tree"], _tree_rss_kb(proc.pid))
            peaks["disk"] = max(peaks["disk"], _folder_mb(tmp))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    result = json.loads(stdout.strip().splitlines()[-1])
    return {
        "rc": result["rc"],
        "stdout": result["stdout"],
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(result["rss"] / 1024, 1),
        "peak_tree_rss_mb": round(peaks["tree"] / 1024, 1),
        "peak_work_mb": round(peaks["disk"], 1),
    }


def run_cli(corpus: Path, megabytes: float, documents: int, workers: int, scratch: Path) -> dict:
    """One ``garimpo curate`` on a fresh artifact store; the published manifest gives the kept count."""
    artifacts = scratch / "art"
    argv = [
        str(Path(sys.executable).parent / "garimpo"),
        "--artifacts",
        str(artifacts),
        "curate",
        str(corpus),
        "--name",
        "bench",
        "--workers",
        str(workers),
        "--quiet",
    ]
    run = measured(argv, scratch / "tmp")
    if run.pop("rc") != 0:
        raise SystemExit(f"garimpo curate failed on {corpus} with {workers} worker(s)")
    run.pop("stdout")
    version = (artifacts / "corpus" / "bench" / "latest").read_text().strip()
    manifest = json.loads((artifacts / "corpus" / "bench" / version / "manifest.json").read_text())
    shutil.rmtree(scratch, ignore_errors=True)
    mb_per_s = megabytes / run["wall_s"]
    return {
        "input_mb": megabytes,
        "documents": documents,
        "workers": workers,
        **run,
        "mb_per_s": round(mb_per_s, 3),
        "mb_per_s_per_worker": round(mb_per_s / workers, 3),
        "kept": manifest["stats"]["documents_kept"],
    }


def run_anchor(corpus: Path, scratch: Path) -> dict:
    """Plain datatrove with the same filters on the same file (``bench/datatrove_anchor.py``)."""
    argv = [sys.executable, "-m", "bench.datatrove_anchor", str(corpus), str(scratch / "work")]
    run = measured(argv, scratch / "tmp")
    if run.pop("rc") != 0:
        raise SystemExit(f"the datatrove anchor failed on {corpus}")
    out = json.loads(run.pop("stdout").strip().splitlines()[-1])
    shutil.rmtree(scratch, ignore_errors=True)
    return {**run, "kept": out["kept"], "pipeline_wall_s": out["wall_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,1000", help="input sizes in MB, comma-separated")
    parser.add_argument(
        "--speedup-size", type=float, default=200, help="size (MB) for 2 workers and the anchor"
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="keep the generated corpora here (default: a temp dir)"
    )
    parser.add_argument(
        "--anchor-size",
        type=float,
        default=None,
        help="size (MB) for the plain-datatrove run (default: the speedup size)",
    )
    parser.add_argument("--no-anchor", action="store_true", help="skip the plain-datatrove run")
    parser.add_argument(
        "--quick", action="store_true", help="sizes 5,10,20 and the speedup on 10 (a smoke run)"
    )
    args = parser.parse_args()
    if not PT_TEXT.is_dir():
        print(json.dumps({"skipped": f"{PT_TEXT} is absent"}))
        return
    sizes = [5.0, 10.0, 20.0] if args.quick else [float(s) for s in args.sizes.split(",")]
    speedup_size = 10.0 if args.quick else args.speedup_size
    pool = sentences()
    with tempfile.TemporaryDirectory(prefix="garimpo-scale-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        scratch = Path(tmp) / "run"
        runs = []
        for size in sizes:
            corpus, documents = corpus_file(work, size, pool)
            runs.append(run_cli(corpus, size, documents, 1, scratch))
            print(json.dumps({"progress": runs[-1]}), file=sys.stderr, flush=True)

        def one_worker(size: float) -> dict:
            """The 1-worker run at ``size``: the one above, or a new one."""
            if found := next((r for r in runs if r["input_mb"] == size), None):
                return found
            path, count = corpus_file(work, size, pool)
            return run_cli(path, size, count, 1, scratch)

        one = one_worker(speedup_size)
        corpus, documents = corpus_file(work, speedup_size, pool)
        two = run_cli(corpus, speedup_size, documents, 2, scratch)
        print(json.dumps({"progress": two}), file=sys.stderr, flush=True)
        anchor_size = args.anchor_size or speedup_size
        beside = one_worker(anchor_size)
        anchor = (
            None
            if args.no_anchor
            else {
                "input_mb": anchor_size,
                "workers": 1,
                **run_anchor(corpus_file(work, anchor_size, pool)[0], scratch),
            }
        )
    smallest, largest = runs[0], runs[-1]
    rss_ratio = largest["peak_rss_mb"] / smallest["peak_rss_mb"]
    speedup = one["wall_s"] / two["wall_s"]
    result = {
        "runs": runs,
        "two_workers": two,
        "datatrove_anchor": anchor,
        "rss_ratio_largest_to_smallest": round(rss_ratio, 3),
        "tree_rss_ratio_largest_to_smallest": round(
            largest["peak_tree_rss_mb"] / smallest["peak_tree_rss_mb"], 3
        ),
        "work_mb_per_input_mb": round(largest["peak_work_mb"] / largest["input_mb"], 3),
        "speedup_2_workers": round(speedup, 3),
        "garimpo_over_datatrove_wall": round(beside["wall_s"] / anchor["wall_s"], 3) if anchor else None,
        "targets": {
            "rss_ratio_le_1.25": rss_ratio <= 1.25,
            "mb_per_s_1_worker_ge_1.0": min(r["mb_per_s"] for r in runs) >= 1.0,
            "speedup_2_workers_ge_1.8": speedup >= 1.8,
        },
        "cpu_count": os.cpu_count(),
        "sentences_in_pool": len(pool),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
