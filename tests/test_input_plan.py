"""Inputs cut into pieces read exactly as the whole file does: same documents, ids, lines and errors."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest
import zstandard

from pipelines.input_plan import Piece, plan_pieces
from pipelines.stages.read import read_jsonl, read_piece

PT_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "pt_text"


def _lines(n: int) -> list[bytes]:
    texts = []
    source = PT_TEXT / "bosque_docs.jsonl"
    if source.is_file():
        texts = [json.loads(line)["text"] for line in source.read_text(encoding="utf-8").splitlines()]
    texts = texts or [f"Frase número {i}, com acentuação e cedilha." for i in range(50)]
    return [
        json.dumps({"id": f"d{i}", "text": texts[i % len(texts)], "source": "t"}, ensure_ascii=False).encode()
        for i in range(n)
    ]


def _awkward() -> bytes:
    """BOM, CRLF, blank lines, invalid UTF-8, a non-object, and no trailing newline."""
    lines = _lines(400)
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    lines[3] = lines[3] + b"\r"
    lines[10] = b""
    lines[11] = b"   "
    lines[50] = b'{"id": "bad", "text": "caf\xe9"}'
    lines[90] = b"[1, 2]"
    lines[200] = b'{"id": "long", "text": "' + b"a" * 5000 + b'"}'
    return b"\n".join(lines)


def _write(path: Path, data: bytes) -> Path:
    opener = {".gz": gzip.compress, ".bz2": bz2.compress, ".zst": zstandard.ZstdCompressor().compress}
    path.write_bytes(opener.get(path.suffix, lambda b: b)(data))
    return path


def _docs(docs) -> list[tuple]:
    return [(d.id, d.text, json.dumps(d.metadata, sort_keys=True)) for d in docs]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.bz2", ".jsonl.zst"])
@pytest.mark.parametrize("target,max_bytes", [(1, 64 << 20), (2, 64 << 20), (3, 64 << 20), (7, 64 << 20), (1, 20_000)])
def test_pieces_read_like_the_whole_file(tmp_path: Path, suffix: str, target: int, max_bytes: int) -> None:
    path = _write(tmp_path / f"a{suffix}", _awkward())
    whole = _docs(read_jsonl(path, path.name, max_line_bytes=1000))
    pieces = plan_pieces([path], target, max_piece_bytes=max_bytes)
    cut = [d for piece in pieces for d in _docs(read_piece(piece, max_line_bytes=1000))]
    assert cut == whole
    assert len(whole) == 398  # 400 lines, two blank
    assert len(pieces) >= min(target, 2)
    assert all(piece.size > 0 for piece in pieces)
    errors = [json.loads(m).get("read_error") for _, _, m in whole]
    assert {"invalid_utf8", "not_an_object", "line_too_long"} <= set(errors)
    assert not whole[0][1].startswith("\ufeff")


def test_many_small_pieces_are_balanced(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.jsonl", b"\n".join(_lines(20_000)) + b"\n")
    pieces = plan_pieces([path], 4, max_piece_bytes=path.stat().st_size // 16)
    assert len(pieces) >= 16
    sizes = [p.size for p in pieces]
    assert sum(sizes) == path.stat().st_size
    assert max(sizes) <= 2 * min(sizes)
    assert [d.id for p in pieces for d in read_piece(p)] == [f"d{i}" for i in range(20_000)]
    assert next(d.metadata["input_line"] for d in read_piece(pieces[5])) == pieces[5].first_line


def test_damaged_archive_is_reported_once(tmp_path: Path) -> None:
    data = gzip.compress(b"\n".join(_lines(3000)) + b"\n")
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    whole = _docs(read_jsonl(path, path.name))
    cut = [d for p in plan_pieces([path], 3) for d in _docs(read_piece(p))]
    assert cut == whole
    assert [json.loads(m).get("read_error") for _, _, m in cut].count("corrupt_file") == 1


def test_empty_and_single_line_files(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.jsonl", b"")
    one = _write(tmp_path / "one.jsonl", _lines(1)[0])
    pieces = plan_pieces([empty, one], 4)
    assert [p.name for p in pieces] == ["empty.jsonl", "one.jsonl"]
    assert next(list(read_piece(p)) for p in pieces) == []
    assert [d.id for d in read_piece(pieces[1])] == ["d0"]


def test_piece_round_trips_through_json(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl.gz", b"\n".join(_lines(500)))
    for piece in plan_pieces([path], 3):
        assert Piece.from_dict(json.loads(json.dumps(piece.to_dict()))) == piece


@pytest.mark.parametrize("workers", [2, 3])
def test_every_worker_gets_as_many_pieces_as_the_others(tmp_path: Path, workers: int) -> None:
    # A file of just over two maximal pieces: three pieces would leave one of two workers idle for a
    # third of every phase, so it is cut into a multiple of the workers, of near-equal sizes.
    path = _write(tmp_path / "big.jsonl", b"\n".join(_lines(6_000)) + b"\n")
    pieces = plan_pieces([path], workers, max_piece_bytes=path.stat().st_size * 10 // 25)
    assert len(pieces) == {2: 4, 3: 3}[workers]  # 2.5 maximal pieces: 2 x 2, or 3 x 1
    sizes = [p.size for p in pieces]
    assert sum(sizes) == path.stat().st_size
    assert max(sizes) <= 1.1 * min(sizes)
    assert [d.id for p in pieces for d in read_piece(p)] == [f"d{i}" for i in range(6_000)]
