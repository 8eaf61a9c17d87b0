"""Plain-text, JSONL and Parquet readers: good rows kept, every bad input rejected with its reason."""

from __future__ import annotations

import bz2
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipelines.sources.readers import SourceSpec, is_rejection, read_source, write_jsonl


def _rows(n: int) -> bytes:
    return b"".join(
        json.dumps({"id": f"d{i}", "text": f"Olá, documento número {i}."}).encode() + b"\n" for i in range(n)
    )


def _read(path, fmt="jsonl", **kw):
    return list(read_source(SourceSpec(str(path), fmt, "src", license="cc-by", **kw)))


def test_jsonl_bad_lines_become_rejections(tmp_path):
    lines = [
        json.dumps({"id": "a", "text": "Bom dia, São Paulo."}).encode(),
        b'{"id": "b", "text": "sem fim',
        b'{"id": "c", "text": "caf\xe9"}',
        json.dumps({"id": "d", "text": "x" * 5000}).encode(),
        json.dumps({"id": "e", "body": "sem campo text"}).encode(),
        json.dumps({"id": "f", "text": "   "}).encode(),
        b"",
        json.dumps({"id": "g", "text": "Último.", "metadata": {"url": "http://x.br"}}).encode(),
    ]
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    records = _read(tmp_path / "a.jsonl", max_bytes=1000)
    docs = [r for r in records if not is_rejection(r)]
    reasons = [r["reason"] for r in records if is_rejection(r)]
    assert [d["id"] for d in docs] == ["src/a.jsonl#a", "src/a.jsonl#g"]
    assert reasons == ["malformed JSON", "invalid UTF-8", "line too long", "malformed row", "empty document"]
    assert docs[1]["metadata"]["url"] == "http://x.br"
    assert docs[0]["metadata"]["license"] == "cc-by" and docs[0]["metadata"]["format"] == "jsonl"


@pytest.mark.parametrize(
    ("suffix", "pack"),
    [
        (".gz", gzip.compress),
        (".bz2", lambda data: bz2.compress(data, 1)),
        (".zst", lambda data: zstandard.ZstdCompressor().compress(data)),
    ],
)
def test_compressed_jsonl_whole_and_truncated(tmp_path, suffix, pack):
    packed = pack(_rows(8000))
    whole = tmp_path / f"whole.jsonl{suffix}"
    whole.write_bytes(packed)
    assert sum(not is_rejection(r) for r in _read(whole)) == 8000
    cut = tmp_path / f"cut.jsonl{suffix}"
    cut.write_bytes(packed[: len(packed) // 2])
    records = _read(cut)
    assert 0 < sum(not is_rejection(r) for r in records) < 8000
    assert records[-1]["reason"] == "truncated or corrupt file"


def test_text_folder_one_document_per_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("Primeiro texto.", encoding="utf-8")
    (tmp_path / "sub" / "b.txt.gz").write_bytes(gzip.compress(b"Segundo texto."))
    (tmp_path / "bad.txt").write_bytes(b"ol\xe1 mundo")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / ".hidden").write_text("ignorado", encoding="utf-8")
    records = _read(tmp_path, "text")
    assert {r["id"]: r.get("reason", r.get("text")) for r in records} == {
        "src/a.txt": "Primeiro texto.",
        "src/bad.txt": "invalid UTF-8",
        "src/empty.txt": "empty document",
        "src/sub/b.txt.gz": "Segundo texto.",
    }


def test_parquet_rows_and_corrupt_file(tmp_path):
    table = pa.table({"id": ["x", "y", "z"], "text": ["Um.", None, "Três."]})
    pq.write_table(table, tmp_path / "a.parquet")
    (tmp_path / "b.parquet").write_bytes(b"PAR1 not really")
    records = _read(tmp_path, "parquet")
    assert [r["id"] for r in records if not is_rejection(r)] == ["src/a.parquet#x", "src/a.parquet#z"]
    assert sorted(r["reason"] for r in records if is_rejection(r)) == [
        "malformed row",
        "truncated or corrupt file",
    ]


def test_write_jsonl_counts_add_up(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(_rows(3) + b"{oops\n")
    (tmp_path / "in" / "b.txt").write_text("Texto solto.", encoding="utf-8")
    specs = [
        SourceSpec(str(tmp_path / "in" / "a.jsonl"), "jsonl", "rows"),
        SourceSpec(str(tmp_path / "in" / "*.txt"), "text", "loose"),
    ]
    counts = write_jsonl(specs, tmp_path / "out" / "docs.jsonl")
    kept = (tmp_path / "out" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    rejected = (tmp_path / "out" / "docs.rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert counts["documents"] == len(kept) == 4
    assert counts["rejected"] == {"malformed JSON": 1} and len(rejected) == 1
    assert counts["inputs"] == counts["documents"] + sum(counts["rejected"].values())
    assert {json.loads(line)["source"] for line in kept} == {"rows", "loose"}
    assert json.loads(kept[-1])["id"] == "loose/b.txt"


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown source format"):
        _read(tmp_path, "docx")
