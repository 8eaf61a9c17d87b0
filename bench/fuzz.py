"""Readers that never crash: mutated files of every reader format, each run as a user runs it.

For every format the readers take (JSONL and its .gz/.zst/.bz2 archives, Parquet, text, HTML, WARC,
PDF, Wikipedia XML, EPUB, instruction files) this starts from valid files (real ones from
../shared/data where it has them, else files built here), mutates them (bit flips, truncation,
splices with another file, a wrong encoding, a huge field; on archives and EPUBs also inside the
packed payload) and reads each mutated file through the code a user starts: ``write_jsonl`` (what
``garimpo ingest`` runs) for the source formats plus the curation read stage for JSONL, and
``curate_instructions`` (``garimpo instruct``) for instruction files.

Each file runs in a worker process with a time limit and an address-space limit (3 GiB beyond what
the worker starts with). A failure is a
traceback out of the reader, a hang past the limit, a dead worker (a crash or the memory limit), a
count that does not add up (``inputs != documents + rejected``), a rejection without a reason, or a
non-empty file that produced no record at all. Prints one JSON line: cases and failures per format,
the first failures with their mutation, and the worker's peak memory.

    .venv/bin/python -m bench.fuzz                   # 1000 mutated files per format
    .venv/bin/python -m bench.fuzz --per-format 50 --keep /tmp/fuzz-failures
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import json
import multiprocessing
import random
import resource
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import zstandard

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FORMATS = ("jsonl", "parquet", "text", "html", "warc", "pdf", "wiki", "epub", "instruct")
MUTATIONS = ("bit_flips", "truncate", "splice", "encoding", "huge_field")
MAX_BYTES = 1 << 20  # the readers' per-document bound in the fuzz run, so that huge fields hit it
TIME_LIMIT_S = 20.0
MEMORY_HEADROOM_BYTES = 3 << 30  # address space a worker may add to what it starts with (a fork of its parent)
PACKERS = {".gz": (gzip.compress, gzip.decompress), ".bz2": (bz2.compress, bz2.decompress),
           ".zst": (zstandard.compress, zstandard.decompress)}  # fmt: skip
PT = (
    "A prefeitura anunciou nesta segunda-feira um programa de reforma das escolas municipais, "
    "com obras previstas para começar em março e terminar antes do próximo ano letivo."
)


# ---------------------------------------------------------------- valid seed files, per format
def _shared_lines(relative: str, count: int) -> list[str]:
    path = SHARED / relative
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [line.rstrip("\n") for _, line in zip(range(count), f, strict=False)]


def _html(title: str, text: str) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in text.split(". "))
    return (
        f'<html><head><meta charset="utf-8"><title>{title}</title></head><body><nav>Início | Contato</nav>'
        f"<article><h1>{title}</h1><p>Postado por Ana às 10:00</p>{paragraphs}</article></body></html>"
    )


def _warc(pages: list[tuple[str, str]]) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    for url, html in pages:
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(url, "response", payload=io.BytesIO(html.encode()), http_headers=headers)
        )
    return out.getvalue()


def _parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out.getvalue()


def _wiki(texts: list[str]) -> str:
    pages = "".join(
        f"<page><title>Artigo {i}</title><ns>0</ns><id>{i}</id><revision><id>{i}0</id><text>"
        f"'''Artigo {i}''' é um [[texto]] de teste.{{{{Info|x=1}}}}\n== Seção ==\n{t}</text></revision></page>"
        for i, t in enumerate(texts)
    )
    return f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/">{pages}</mediawiki>'


def _epub(chapters: list[str]) -> bytes:
    from tests.test_sources_epub import make_epub

    with tempfile.TemporaryDirectory() as scratch:
        docs = [(f"c{i}", f"cap{i}.xhtml", f"<html><body><h2>Capítulo {i}</h2><p>{t}</p></body></html>")
                for i, t in enumerate(chapters)]  # fmt: skip
        return make_epub(Path(scratch) / "book.epub", docs).read_bytes()


def seeds() -> dict[str, list[tuple[str, bytes]]]:
    """Valid files per format, ``(file name, bytes)``; the suffix says how the file is packed."""
    from tests.fixtures.hostile_corpus import text_pdf

    docs = [json.loads(line) for line in _shared_lines("pt_text/bosque_docs.jsonl", 6)] or [
        {"id": f"d{i}", "text": f"{PT} Documento {i}."} for i in range(6)
    ]
    texts = [d["text"] for d in docs]
    jsonl = "".join(json.dumps({"id": d["id"], "text": d["text"], "metadata": {"n": i}}, ensure_ascii=False) + "\n"
                    for i, d in enumerate(docs)).encode()  # fmt: skip
    zyte = SHARED / "html" / "scrapinghub_aeb" / "html"
    pages = [gzip.decompress(p.read_bytes()) for p in sorted(zyte.glob("*.html.gz"))[:4]] if zyte.is_dir() else []
    pages += [_html(f"Notícia {i}", t).encode() for i, t in enumerate(texts[:2])]
    pdfs = [p.read_bytes() for p in sorted((SHARED / "pdfs" / "other").glob("0[02]2-*.pdf"))]
    instruct = [("alpaca.json", json.dumps([{"instruction": "Resuma o texto.", "input": t, "output": t[:80]}
                                             for t in texts[:3]], ensure_ascii=False).encode()),
                ("chat.jsonl", "".join(json.dumps({"messages": [{"role": "user", "content": "Explique."},
                                                                {"role": "assistant", "content": t}]},
                                                  ensure_ascii=False) + "\n" for t in texts[:3]).encode())]  # fmt: skip
    for name in ("gsm8k_test_full.jsonl", "enem_2024_gpt4enem.jsonl"):
        lines = _shared_lines(f"instruct/{name}", 3)
        if lines:
            instruct.append((name, ("\n".join(lines) + "\n").encode()))
    return {
        "jsonl": [("docs.jsonl", jsonl), ("docs.jsonl.gz", gzip.compress(jsonl)),
                  ("docs.jsonl.zst", zstandard.compress(jsonl)), ("docs.jsonl.bz2", bz2.compress(jsonl))],
        "parquet": [("docs.parquet", _parquet([{"id": d["id"], "text": d["text"]} for d in docs]))],
        "text": [("doc.txt", texts[0].encode()), ("doc.txt.gz", gzip.compress("\n\n".join(texts).encode()))],
        "html": [(f"page{i}.html", page) for i, page in enumerate(pages)],
        "warc": [("crawl.warc", _warc([(f"https://site.com.br/{i}", _html(f"P{i}", t)) for i, t in enumerate(texts[:3])])),
                 ("crawl.warc.gz", gzip.compress(_warc([("https://site.com.br/x", _html("X", texts[0]))])))],
        "pdf": [("doc.pdf", text_pdf("\n".join(texts[:2])))] + [(f"real{i}.pdf", b) for i, b in enumerate(pdfs)],
        "wiki": [("dump.xml", _wiki(texts[:3]).encode()), ("dump.xml.bz2", bz2.compress(_wiki(texts[3:]).encode()))],
        "epub": [("book.epub", _epub(texts[:3]))],
        "instruct": instruct,
    }  # fmt: skip


# ---------------------------------------------------------------- mutations
def mutate(data: bytes, kind: str, rng: random.Random, donor: bytes) -> bytes:
    """One mutation of ``data``: ``kind`` is one of MUTATIONS."""
    if not data:
        return donor[: rng.randint(0, len(donor))]
    if kind == "bit_flips":
        out = bytearray(data)
        for _ in range(rng.choice((1, 2, 8, 64))):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == "truncate":
        return data[: rng.randrange(len(data))]
    if kind == "splice":
        cut, other = rng.randrange(len(data)), rng.randrange(max(1, len(donor)))
        return data[:cut] + donor[other : other + rng.randint(1, 4096)] + data[rng.randrange(cut, len(data) + 1) :]
    if kind == "encoding":
        codec = rng.choice(("latin-1", "cp1252", "utf-16", "utf-16-be", "utf-32", "shift_jis", "koi8-r"))
        return data.decode("utf-8", "surrogateescape").encode(codec, "replace")
    if kind == "huge_field":
        piece = rng.choice((b"a", b"\xc3\xa7", b"<div>", b"[[", b"{{", b'{"a":', b"\n", b"\x00", b"("))
        cut = rng.randrange(len(data) + 1)
        return data[:cut] + piece * rng.choice((10_000, 300_000, (MAX_BYTES + 4096) // len(piece))) + data[cut:]
    raise ValueError(f"unknown mutation {kind!r}")


def mutated_file(name: str, data: bytes, rng: random.Random, donor: bytes) -> tuple[bytes, str]:
    """A mutated copy of one seed, and how it was made. Packed files (archives, EPUB zips) are mutated
    either as bytes or inside: the payload (one zip member) mutated and packed again."""
    kind = rng.choice(MUTATIONS)
    suffix = Path(name).suffix
    if rng.random() < 0.5 and suffix in PACKERS:
        pack, unpack = PACKERS[suffix]
        return pack(mutate(unpack(data), kind, rng, donor)), f"{kind} inside {suffix}"
    if rng.random() < 0.5 and suffix == ".epub":
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            members = {info.filename: book.read(info) for info in book.infolist()}
        target = rng.choice(sorted(members))
        members[target] = mutate(members[target], kind, rng, donor)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as book:
            for member, content in members.items():
                book.writestr(member, content)
        return out.getvalue(), f"{kind} inside {target}"
    return mutate(data, kind, rng, donor), kind


# ---------------------------------------------------------------- running one file as a user would
def run_file(fmt: str, path: Path, scratch: Path) -> dict[str, Any]:
    """Read one file through the user-facing entry point; the accounting problems found, if any."""
    problems: list[str] = []
    if fmt == "instruct":
        from pipelines.instruct import load_instruct_recipe
        from pipelines.instruct.curate import curate_instructions

        stats = curate_instructions([path], scratch, load_instruct_recipe())
        records, documents = stats["documents_in"], stats["documents_kept"]
        if records != documents + stats["documents_rejected"]:
            problems.append(f"in {records} != kept + rejected")
    else:
        from pipelines.sources import SourceSpec, write_jsonl

        counts = write_jsonl([SourceSpec(str(path), fmt, "fuzz", max_bytes=MAX_BYTES)], scratch / "out.jsonl")
        records, documents = counts["inputs"], counts["documents"]
        if records != documents + sum(counts["rejected"].values()):
            problems.append("inputs != documents + rejected")
        for line in Path(counts["rejects_path"]).read_text(encoding="utf-8").split("\n")[:-1]:
            if not json.loads(line).get("reason"):
                problems.append("rejection without a reason")
        if fmt == "jsonl":  # `garimpo curate` reads JSONL with the read stage's own reader
            from pipelines.stages.read import read_jsonl

            for _ in read_jsonl(path, path.name):
                pass
    if records == 0 and path.read_bytes().strip():
        problems.append("a non-empty file gave no record")
    return {"records": records, "documents": documents, "problems": problems}


def _worker(connection) -> None:
    # The limit is on top of the forked parent's address space: a test process that imported torch
    # starts the worker with gigabytes mapped already.
    mapped = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + MEMORY_HEADROOM_BYTES, mapped + MEMORY_HEADROOM_BYTES))
    while True:
        job = connection.recv()
        if job is None:
            return
        fmt, path = job
        with tempfile.TemporaryDirectory(prefix="fuzz-out-") as scratch:
            try:
                result = run_file(fmt, Path(path), Path(scratch))
            except BaseException as error:  # the failure being measured: anything escaping the reader
                lines = traceback.format_exception(error)
                result = {"error": "".join(lines[-3:])[-600:]}
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        connection.send(result)


class Runner:
    """Runs files in a worker process, one at a time, restarting it after a hang or a crash."""

    def __init__(self, time_limit_s: float = TIME_LIMIT_S) -> None:
        self.time_limit_s = time_limit_s
        self.context = multiprocessing.get_context("fork")
        self.process = None
        self.peak_rss_mb = 0.0

    def _start(self) -> None:
        self.connection, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()

    def run(self, fmt: str, path: Path) -> dict[str, Any]:
        if self.process is None or not self.process.is_alive():
            self._start()
        self.connection.send((fmt, str(path)))
        if not self.connection.poll(self.time_limit_s):
            self.process.kill()
            self.process.join()
            self.process = None
            return {"hang": True}
        try:
            result = self.connection.recv()
        except EOFError:
            self.process.join()
            code, self.process = self.process.exitcode, None
            return {"crash": f"worker died with exit code {code}"}
        self.peak_rss_mb = max(self.peak_rss_mb, result.pop("peak_rss_mb"))
        return result

    def close(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.connection.send(None)
            self.process.join(5)


def fuzz(per_format: int, seed: int = 0, formats=FORMATS, keep: Path | None = None, runner=None) -> dict:
    """Mutate and read ``per_format`` files per format; the figures ``main`` prints."""
    rng = random.Random(seed)
    all_seeds = seeds()
    donors = [data for files in all_seeds.values() for _, data in files]
    runner = runner or Runner()
    report: dict[str, Any] = {"per_format": {}, "failures": []}
    with tempfile.TemporaryDirectory(prefix="fuzz-in-") as scratch:
        for fmt in formats:
            figures: Counter[str] = Counter()
            started = time.perf_counter()
            for case in range(per_format):
                name, data = all_seeds[fmt][case % len(all_seeds[fmt])]
                mutated, how = mutated_file(name, data, rng, rng.choice(donors))
                path = Path(scratch) / fmt / f"{case:05d}-{name}"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(mutated)
                result = runner.run(fmt, path)
                figures["cases"] += 1
                figures["documents"] += result.get("documents", 0)
                figures["records"] += result.get("records", 0)
                kind = next((k for k in ("hang", "crash", "error") if k in result), None)
                if kind is None and result["problems"]:
                    kind = "accounting"
                if kind is not None:
                    figures[{"hang": "hangs", "crash": "crashes", "error": "tracebacks"}.get(kind, kind)] += 1
                    detail = result.get(kind, None) if kind != "accounting" else result["problems"]
                    report["failures"].append({"format": fmt, "file": name, "mutation": how, kind: detail})
                    if keep is not None:
                        (keep / fmt).mkdir(parents=True, exist_ok=True)
                        (keep / fmt / path.name).write_bytes(mutated)
                path.unlink()
            figures["seconds"] = round(time.perf_counter() - started, 1)  # type: ignore[assignment]
            report["per_format"][fmt] = {k: figures.get(k, 0) for k in
                                         ("cases", "records", "documents", "tracebacks", "hangs", "crashes",
                                          "accounting", "seconds")}  # fmt: skip
    runner.close()
    report["peak_worker_rss_mb"] = round(runner.peak_rss_mb, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="Mutated files of every reader format, read as a user would.")
    parser.add_argument("--per-format", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", nargs="*", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--keep", type=Path, default=None, help="copy each failing input into this folder")
    args = parser.parse_args()
    report = fuzz(args.per_format, args.seed, args.formats, args.keep)
    failures = report.pop("failures")
    total = sum(f["cases"] for f in report["per_format"].values())
    print(json.dumps({"bench": "fuzz", "cases": total, "failures": len(failures), "time_limit_s": TIME_LIMIT_S,
                      "memory_headroom_gb": MEMORY_HEADROOM_BYTES / 2**30, **report,
                      "first_failures": failures[:20]}, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
