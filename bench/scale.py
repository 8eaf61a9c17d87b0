"""Curation through the CLI at growing input sizes: wall time, MB/s and peak RSS; prints one JSON line.

The input is generated here: unique Portuguese documents, each 8–14 random real sentences drawn from
``../shared/data/pt_text`` (Bosque news and the literature chapters), about 1.6 KB each, written as
one JSONL file per size. Each size runs ``garimpo curate FILE --workers W`` in a fresh process, as a
user would; peak RSS is the largest resident set of that process or any of its children
(``RUSAGE_CHILDREN``), which is what must stay flat as the corpus grows.

    .venv/bin/python -m bench.scale [--sizes 10,50,100] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
            out += [s.strip() for s in SENTENCE_END.split(" ".join(text.split())) if 30 <= len(s.strip()) <= 400]
    return out


def write_corpus(path: Path, megabytes: float, pool: list[str], seed: int) -> int:
    """Unique documents of 8–14 random sentences until the file holds ``megabytes``; returns their count."""
    rng = random.Random(seed)
    target, written, n = int(megabytes * 1e6), 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < target:
            text = " ".join(rng.choice(pool) for _ in range(rng.randint(8, 14)))
            line = json.dumps({"id": f"doc-{n}", "text": text, "source": "bench"}, ensure_ascii=False) + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))
            n += 1
    return n


def run_cli(corpus: Path, workers: int, artifacts: Path) -> dict:
    """One ``garimpo curate`` in a fresh interpreter: wall seconds, peak RSS (MB), kept documents."""
    code = (
        "import resource, subprocess, sys, json\n"
        "argv = json.loads(sys.argv[1])\n"
        "rc = subprocess.run(argv, stdout=subprocess.DEVNULL).returncode\n"
        "print(json.dumps({'rc': rc, 'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    argv = [
        str(Path(sys.executable).parent / "garimpo"),
        "--artifacts",
        str(artifacts),
        "curate",
        str(corpus),
        "--name",
        corpus.stem,
        "--workers",
        str(workers),
    ]
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"garimpo curate failed on {corpus} (exit {result['rc']})")
    manifest_dir = artifacts / "corpus" / corpus.stem
    version = (manifest_dir / "latest").read_text().strip()
    manifest = json.loads((manifest_dir / version / "manifest.json").read_text())
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(result["rss"] / 1024, 1), "kept": manifest["stats"]["documents_kept"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50,100", help="input sizes in MB, comma-separated")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not PT_TEXT.is_dir():
        print(json.dumps({"skipped": f"{PT_TEXT} is absent"}))
        return
    pool = sentences()
    runs = []
    with tempfile.TemporaryDirectory(prefix="garimpo-scale-") as tmp:
        for i, size in enumerate(float(s) for s in args.sizes.split(",")):
            corpus = Path(tmp) / f"pt{i}.jsonl"
            docs = write_corpus(corpus, size, pool, seed=i)
            run = run_cli(corpus, args.workers, Path(tmp) / "art")
            runs.append({"input_mb": size, "documents": docs, **run, "mb_per_s": round(size / run["wall_s"], 3)})
            corpus.unlink()
    print(
        json.dumps(
            {
                "workers": args.workers,
                "runs": runs,
                "rss_ratio_largest_to_smallest": round(runs[-1]["peak_rss_mb"] / runs[0]["peak_rss_mb"], 3),
                "sentences_in_pool": len(pool),
                "peak_rss_of_bench_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
