"""Source readers: one reader per declared format, each turning raw files into JSONL records.

Why declared, not guessed: a corpus mixes formats whose files look alike (a ``.txt`` of HTML, a
``.gz`` of anything), and a guess that is wrong silently produces garbage. The user names the format
in a ``SourceSpec``; the reader for it is looked up here and imported only when used, so reading
JSONL never loads trafilatura or pdfium.

Every reader is a generator of records (plain dicts, ready for ``json.dumps``):

- a document: ``{"id", "text", "source", "metadata"}``;
- a rejection: ``{"id", "source", "reason", "metadata"}``, where ``reason`` is a short readable
  category ("invalid UTF-8", "encrypted PDF") and ``metadata["detail"]`` says exactly what failed.

Nothing is lost: a bad line, page or file becomes a rejection, never an exception out of the run.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import importlib
import io
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

Record = dict[str, Any]

FORMATS = {
    "jsonl": "pipelines.sources.text:read_jsonl",
    "parquet": "pipelines.sources.text:read_parquet",
    "text": "pipelines.sources.text:read_text",
    "html": "pipelines.sources.web:read_html",
    "warc": "pipelines.sources.web:read_warc",
    "pdf": "pipelines.sources.pdf:read_pdf",
    "wiki": "pipelines.sources.wiki:read_wiki",
    "epub": "pipelines.sources.epub:read_epub",
}

# Exceptions that mean "this input is damaged", as raised by the decompressors and decoders used here.
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, zstandard.ZstdError)


@dataclass(frozen=True)
class SourceSpec:
    """One input source: where it is, what format it is declared to be, and how it may be used.

    ``path`` is a file, a folder (read recursively, hidden files skipped) or a glob. ``name`` goes
    into every record's ``source`` field and id; ``license`` into its metadata. ``text_field`` and
    ``id_field`` name the columns of JSONL/Parquet rows. ``max_bytes`` bounds one document (one
    line, one file, one page) so a single huge input cannot exhaust memory.
    """

    path: str
    format: str
    name: str
    license: str = "unknown"
    text_field: str = "text"
    id_field: str | None = "id"
    max_bytes: int = 32 * 1024 * 1024


def document(doc_id: str, text: str, source: str, metadata: dict[str, Any]) -> Record:
    """A kept document record."""
    return {"id": doc_id, "text": text, "source": source, "metadata": metadata}


def rejection(doc_id: str, source: str, reason: str, metadata: dict[str, Any]) -> Record:
    """A rejected input record: no text, a readable reason."""
    return {"id": doc_id, "source": source, "reason": reason, "metadata": metadata}


def is_rejection(record: Record) -> bool:
    """True for a rejection record, False for a document."""
    return "reason" in record


def iter_files(spec: SourceSpec) -> Iterator[tuple[Path, str]]:
    """Yield ``(path, id prefix)`` for every input file of a spec, in a stable sorted order.

    The id prefix is ``<name>/<path relative to the folder or glob root>``, so ids are stable
    across machines and reruns.
    """
    root = Path(spec.path)
    if root.is_file():
        yield root, f"{spec.name}/{display_path(root.name)}"
        return
    if root.is_dir():
        files = sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
        for path in files:
            yield path, f"{spec.name}/{display_path(path.relative_to(root).as_posix())}"
        return
    prefix = re.split(r"[*?\[]", spec.path)[0]
    base = Path(prefix) if prefix.endswith("/") else Path(prefix).parent
    for match in sorted(glob.glob(spec.path, recursive=True)):
        path = Path(match)
        if path.is_file():
            yield path, f"{spec.name}/{display_path(path.relative_to(base).as_posix())}"


def display_path(path: str | Path) -> str:
    """A path as text that always encodes to UTF-8: undecodable bytes in a file name (a Latin-1 name
    from an old zip) show as ``\\xe9`` instead of the lone surrogates Python keeps for them, which
    would make every record of the file unwritable."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_whole_file(spec: SourceSpec, path: Path, doc_id: str, meta: dict[str, Any]) -> bytes | Record:
    """A one-document file's bytes, unpacked by suffix, or a rejection when it is damaged or too large.

    At most ``max_bytes + 1`` bytes are read, so an oversized file is rejected without being held whole.
    """
    try:
        with open_binary(path) as stream:
            data = stream.read(spec.max_bytes + 1)
    except READ_ERRORS as error:
        return rejection(doc_id, spec.name, "truncated or corrupt file", {**meta, "detail": str(error)})
    if len(data) > spec.max_bytes:
        return rejection(
            doc_id, spec.name, "file too large", {**meta, "detail": f"over {spec.max_bytes} bytes"}
        )
    return data


def open_binary(path: Path) -> BinaryIO:
    """Open a file for streaming reads, decompressing ``.gz``, ``.bz2`` and ``.zst`` by suffix.

    Suffixes say how bytes are packed, which is safe to follow; they never choose the format.
    """
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix in (".zst", ".zstd"):
        return io.BufferedReader(_ZstdReader(path.open("rb")))
    return path.open("rb")


class _ZstdReader(io.RawIOBase):
    """Streaming zstd decompression that raises EOFError on a truncated frame.

    ``zstandard``'s own ``stream_reader`` ends quietly when the input stops mid-frame, which would
    turn a truncated download into a silently shorter corpus.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._frame = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._frame_started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                if not self._frame.eof and self._frame_started:
                    raise EOFError("zstd stream ended before the end of its frame")
                return 0
            self._pending = self._decompress(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _decompress(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            if self._frame.eof:  # concatenated frames: start the next one on the leftover bytes
                self._frame = zstandard.ZstdDecompressor().decompressobj()
            self._frame_started = True
            out.append(self._frame.decompress(chunk))
            chunk = self._frame.unused_data if self._frame.eof else b""
        return b"".join(out)

    def close(self) -> None:
        self._raw.close()
        super().close()


def base_metadata(spec: SourceSpec, path: Path) -> dict[str, Any]:
    """The metadata every record of a file starts with."""
    return {"path": display_path(path), "format": spec.format, "license": spec.license}


def read_source(spec: SourceSpec) -> Iterator[Record]:
    """Stream the records of one source with the reader its declared format names."""
    if spec.format not in FORMATS:
        raise ValueError(f"unknown source format {spec.format!r}; known: {', '.join(sorted(FORMATS))}")
    module_name, function_name = FORMATS[spec.format].split(":")
    reader = getattr(importlib.import_module(module_name), function_name)
    yield from reader(spec)


def rejects_path_for(out_path: Path) -> Path:
    """Where ``write_jsonl`` puts rejections: next to the documents, ``<stem>.rejects.jsonl``."""
    name = out_path.name.removesuffix(".jsonl")
    return out_path.with_name(f"{name}.rejects.jsonl")


def _json_line(record: Record) -> tuple[Record, str]:
    """The record and its JSON line. A document holding an unpaired surrogate (legal in JSON's
    ``\\ud800`` escapes and in Python strings, impossible in UTF-8) becomes an ``invalid Unicode``
    rejection instead of an exception that would end the whole run."""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as error:
        clean = _encodable(record)
        if not is_rejection(record):
            detail = f"unpaired surrogate U+{ord(line[error.start]):04X} in the record"
            meta = {k: v for k, v in clean["metadata"].items() if k != "detail"}
            clean = rejection(clean["id"], clean["source"], "invalid Unicode", {**meta, "detail": detail})
        record, line = clean, json.dumps(clean, ensure_ascii=False) + "\n"
    return record, line


def _encodable(value: Any) -> Any:
    """``value`` with every string made UTF-8 safe (a lone surrogate shows as ``\\ud800``)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    return value


def write_jsonl(specs: Iterable[SourceSpec], out_path: str | Path) -> dict[str, Any]:
    """Read every source and write documents to ``out_path`` and rejections beside it.

    Returns counts that add up: ``inputs == documents + sum(rejected.values())``, also per source.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rejects_path = rejects_path_for(out_path)
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    per_source: dict[str, dict[str, Any]] = {}
    with out_path.open("w", encoding="utf-8") as docs, rejects_path.open("w", encoding="utf-8") as rejects:
        for spec in specs:
            source_reasons: Counter[str] = Counter()
            kept = 0
            for record in read_source(spec):
                record, line = _json_line(record)
                if is_rejection(record):
                    rejects.write(line)
                    source_reasons[record["reason"]] += 1
                else:
                    docs.write(line)
                    kept += 1
            per_source[spec.name] = {"documents": kept, "rejected": dict(source_reasons)}
            totals["documents"] += kept
            reasons.update(source_reasons)
    rejected = sum(reasons.values())
    return {
        "inputs": totals["documents"] + rejected,
        "documents": totals["documents"],
        "rejected": dict(reasons),
        "sources": per_source,
        "documents_path": str(out_path),
        "rejects_path": str(rejects_path),
    }
