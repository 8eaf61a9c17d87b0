"""Shard-writing throughput against raw ``Tokenizer.encode_batch`` on the same text and cores, and
peak memory of a build at 1x and 10x the input.

Text: real Portuguese from ../shared/data/pt_text when present, else the generated sample corpus. A
tokenizer (vocab 8000) is trained once; then, each in a fresh process so the figures do not mix:

* ``raw``: the corpus texts encoded with ``encode_batch`` in batches of 1024 (the same batch size and
  the same all-core Rust thread pool ``build_shards`` uses), ids read out as the writer needs them;
* ``build``: ``build_shards`` from the published corpus to the published shards version, everything
  included (verifying the corpus, the split pass, token cache writes, fsync, publishing), with a fresh
  token cache; at 1x also a rebuild that finds every text cached, at 10x also without the cache;
* 10x is the corpus repeated 10 times, each repeat's texts made distinct by a prefix.

``ratio`` is build throughput / raw throughput (target >= 0.8); at 1x (a fraction of a second of
encoding on the real data) fixed costs weigh more than at 10x. Prints one JSON line.

    .venv/bin/python -m bench.shards
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from garimpo.core import ArtifactStore, load_manifest
from garimpo.core.formats import TOKENIZER_FILE
from pipelines.corpus_files import corpus_batches
from pipelines.shards import build_shards
from pipelines.tokenizer import load_tokenizer, publish_tokenizer

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data" / "pt_text"
FILES = (
    "bosque_docs.jsonl",
    "porttinari_devtest_docs.jsonl",
    "petrogold_devtest_docs.jsonl",
    "literature/machado_chapters.jsonl",
)


def load_texts() -> tuple[str, list[str]]:
    if all((DATA / name).is_file() for name in FILES):
        texts = []
        for name in FILES:
            for line in (DATA / name).read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                texts.append(record.get("text") or record["text_hardwrapped"])
        return "pt_text", texts
    from pipelines.sample_corpus import write_sample_corpus

    folder = Path(tempfile.mkdtemp(prefix="garimpo-bench-sample-"))
    write_sample_corpus(folder, seed=0, n_docs=2000)
    texts = []
    for name in ("web.jsonl", "blog.jsonl"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            try:
                texts.append(json.loads(line)["text"])
            except (json.JSONDecodeError, KeyError):
                continue
    return "sample_corpus", [t for t in texts if t]


def publish_corpus(store: ArtifactStore, name: str, texts: list[str], repeat: int) -> str:
    def build(folder: Path) -> None:
        (folder / "documents").mkdir()
        for r in range(repeat):
            table = pa.table(
                {
                    "id": [f"r{r}-{i}" for i in range(len(texts))],
                    # Each repeat differs by a prefix, so the token cache cannot serve repeats.
                    "text": [f"({r}) {t}" for t in texts] if r else texts,
                    "source": ["pt"] * len(texts),
                    "metadata": ["{}"] * len(texts),
                }
            )
            pq.write_table(table, folder / "documents" / f"{r:05d}.parquet")

    return str(store.publish("corpus", name, build).root)


def child(mode: str, root: str, corpus: str, tokenizer: str, cache: bool) -> dict[str, float]:
    """One measurement in this (fresh) process; returns seconds, tokens and peak RSS."""
    corpus_m, tokenizer_m = load_manifest(corpus), load_manifest(tokenizer)
    if mode == "raw":
        tok = load_tokenizer(tokenizer_m.path_of(TOKENIZER_FILE))
        batches = [b["text"] for b in corpus_batches(corpus_m, ["text"], batch_size=1024)]
        start = time.perf_counter()
        tokens = sum(
            len(e.ids) for texts in batches for e in tok.encode_batch(texts, add_special_tokens=False)
        )
        seconds = time.perf_counter() - start
    else:
        store = ArtifactStore(root)
        start = time.perf_counter()
        m = build_shards(store, f"bench-{time.time_ns()}", corpus_m, tokenizer_m, token_cache=cache)
        seconds = time.perf_counter() - start
        tokens = m.stats["tokens"] - m.stats["documents"]  # without the EOS the raw encoding lacks
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "tokens": tokens, "peak_rss_mb": round(peak_mb, 1)}


def measure(mode: str, root: Path, corpus: str, tokenizer: str, cache: bool = True) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", mode, str(root), corpus, tokenizer, "1" if cache else "0"]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, root, corpus, tokenizer, cache = args.child
        print(json.dumps(child(mode, root, corpus, tokenizer, cache == "1")))
        return

    data, texts = load_texts()
    text_bytes = sum(len(t.encode("utf-8")) for t in texts)
    with tempfile.TemporaryDirectory(prefix="garimpo-bench-shards-") as tmp:
        store = ArtifactStore(Path(tmp) / "store")
        one = publish_corpus(store, "x1", texts, 1)
        ten = publish_corpus(store, "x10", texts, 10)
        tokenizer = publish_tokenizer(store, "bench", load_manifest(one), vocab_size=8000)
        tok = str(tokenizer.root)
        raw = measure("raw", store.root, one, tok)
        build = measure("build", store.root, one, tok)
        rebuild = measure("build", store.root, one, tok)
        # Raw and build alternate and the faster of two runs counts, so a burst of load from other
        # processes on the machine does not land on one side only.
        runs = [
            (measure("raw", store.root, ten, tok), measure("build", Path(tmp) / f"ten{k}", ten, tok))
            for k in range(2)
        ]
        raw_10 = min((r for r, _ in runs), key=lambda r: r["seconds"])
        build_10 = min((b for _, b in runs), key=lambda b: b["seconds"])
        build_10_no_cache = measure("build", Path(tmp) / "ten-nocache", ten, tok, cache=False)

    def mb_s(r: dict[str, float], repeat: int = 1) -> float:
        return round(text_bytes * repeat / r["seconds"] / 1e6, 2)

    print(
        json.dumps(
            {
                "bench": "shards",
                "data": data,
                "documents": len(texts),
                "text_mb": round(text_bytes / 1e6, 2),
                "cores": os.cpu_count(),
                "x1": {
                    "raw_encode_batch_mb_s": mb_s(raw),
                    "build_mb_s": mb_s(build),
                    "ratio": round(raw["seconds"] / build["seconds"], 3),
                    "rebuild_all_cached_mb_s": mb_s(rebuild),
                    "peak_rss_mb": build["peak_rss_mb"],
                },
                "x10": {
                    "raw_encode_batch_mb_s": mb_s(raw_10, 10),
                    "build_mb_s": mb_s(build_10, 10),
                    "ratio": round(raw_10["seconds"] / build_10["seconds"], 3),
                    "build_no_cache_mb_s": mb_s(build_10_no_cache, 10),
                    "ratio_no_cache": round(raw_10["seconds"] / build_10_no_cache["seconds"], 3),
                    "peak_rss_mb": build_10["peak_rss_mb"],
                },
                "target_ratio": 0.8,
                "tokens_match_raw": raw["tokens"] == build["tokens"]
                and raw_10["tokens"] == build_10["tokens"],
            }
        )
    )


if __name__ == "__main__":
    main()
