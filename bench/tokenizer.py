"""Compression of garimpo's tokenizer against a default byte-level BPE on held-out Portuguese.

Both tokenizers train on the same real Portuguese text (news, academic prose, Machado de Assis from
../shared/data/pt_text) with the same vocabulary size; 10 % of the documents, picked by a hash of
their id, are held out. Reported per tokenizer: UTF-8 bytes per token and tokens per whitespace word
(higher bytes/token and lower tokens/word mean better compression), on the held-out text as written
and on its NFD form (accents as combining marks, as some PDFs and macOS files deliver them), plus the
training time. Prints one JSON line; prints {"skipped": reason} when the data is absent.

    .venv/bin/python -m bench.tokenizer [--vocab-size 8000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from tokenizers import ByteLevelBPETokenizer, Tokenizer

from garimpo.core.formats import EOS_TOKEN
from pipelines.tokenizer import train_tokenizer

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pt_text"
FILES = (
    "bosque_docs.jsonl",
    "porttinari_devtest_docs.jsonl",
    "petrogold_devtest_docs.jsonl",
    "literature/machado_chapters.jsonl",
)


def load(files: tuple[str, ...]) -> tuple[list[str], list[str]]:
    train, held_out = [], []
    for name in files:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            bucket = hashlib.sha256(record["id"].encode()).digest()[0]
            # The Machado chapters only come hard-wrapped at ~70 columns.
            text = record.get("text") or record["text_hardwrapped"]
            (held_out if bucket < 26 else train).append(text)
    return train, held_out


def measure(encode: Callable[[str], list[int]], texts: list[str]) -> dict[str, float]:
    tokens = sum(len(encode(t)) for t in texts)
    return {
        "bytes_per_token": round(sum(len(t.encode("utf-8")) for t in texts) / tokens, 3),
        "tokens_per_word": round(tokens / sum(len(t.split()) for t in texts), 3),
    }


def report(tok: Tokenizer, held_out: list[str], seconds: float) -> dict[str, float]:
    def encode(text: str) -> list[int]:
        return tok.encode(text, add_special_tokens=False).ids

    nfd = [unicodedata.normalize("NFD", t) for t in held_out]
    return {
        **measure(encode, held_out),
        "tokens_per_word_nfd": measure(encode, nfd)["tokens_per_word"],
        "train_seconds": round(seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=8000)
    args = parser.parse_args()
    missing = [name for name in FILES if not (DATA / name).is_file()]
    if missing:
        print(json.dumps({"bench": "tokenizer", "skipped": f"pt_text data absent under {DATA}: {missing}"}))
        return
    train, held_out = load(FILES)

    start = time.perf_counter()
    ours = train_tokenizer(iter(train), vocab_size=args.vocab_size)
    ours_seconds = time.perf_counter() - start

    start = time.perf_counter()
    default = ByteLevelBPETokenizer()
    default.train_from_iterator(
        iter(train),
        vocab_size=args.vocab_size,
        min_frequency=2,
        special_tokens=[EOS_TOKEN],
        show_progress=False,
    )
    default_seconds = time.perf_counter() - start

    print(
        json.dumps(
            {
                "bench": "tokenizer",
                "vocab_size": args.vocab_size,
                "train_documents": len(train),
                "train_bytes": sum(len(t.encode("utf-8")) for t in train),
                "held_out_documents": len(held_out),
                "held_out_bytes": sum(len(t.encode("utf-8")) for t in held_out),
                "garimpo": report(ours, held_out, ours_seconds),
                "bytelevel_default": report(default, held_out, default_seconds),
            }
        )
    )


if __name__ == "__main__":
    main()
