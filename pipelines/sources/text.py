"""Plain-text folders, JSONL and Parquet: the formats that already hold text.

Why this needs care at all: real dumps are truncated, mis-encoded and uneven. Each line of a JSONL
file is read with a size bound (a line longer than ``max_bytes`` is skipped to its end, never held
whole), decoded strictly (invalid UTF-8 is a rejection, not silent U+FFFD), and parsed on its own, so
one bad line rejects one record. A compressed file that ends early keeps the records read so far and
rejects the rest with the reason. Parquet streams record batches of the two needed columns.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.sources.readers import (
    READ_ERRORS,
    Record,
    SourceSpec,
    base_metadata,
    document,
    iter_files,
    open_binary,
    read_whole_file,
    rejection,
)

_CHUNK = 1024 * 1024


def _row_record(spec: SourceSpec, row: Any, row_id: str, meta: dict[str, Any]) -> Record:
    """A document from one JSON/Parquet row, or a rejection saying what is wrong with it."""
    if not isinstance(row, dict):
        return rejection(row_id, spec.name, "malformed row", {**meta, "detail": "row is not an object"})
    text = row.get(spec.text_field)
    if not isinstance(text, str):
        detail = f"field {spec.text_field!r} missing or not a string"
        return rejection(row_id, spec.name, "malformed row", {**meta, "detail": detail})
    doc_id = (
        f"{row_id.rsplit('#', 1)[0]}#{row[spec.id_field]}"
        if spec.id_field and spec.id_field in row
        else row_id
    )
    if not text.strip():
        return rejection(doc_id, spec.name, "empty document", meta)
    extra = row.get("metadata")
    metadata = {**extra, **meta} if isinstance(extra, dict) else meta
    return document(doc_id, text, spec.name, metadata)


def read_text(spec: SourceSpec) -> Iterator[Record]:
    """One document per file (``.txt``/``.md``/anything, optionally ``.gz``/``.bz2``/``.zst``)."""
    for path, doc_id in iter_files(spec):
        meta = base_metadata(spec, path)
        data = read_whole_file(spec, path, doc_id, meta)
        if isinstance(data, dict):
            yield data
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            yield rejection(doc_id, spec.name, "invalid UTF-8", {**meta, "detail": f"byte {error.start}"})
            continue
        text = text.removeprefix("\ufeff")
        if not text.strip():
            yield rejection(doc_id, spec.name, "empty document", meta)
            continue
        yield document(doc_id, text, spec.name, meta)


def _bounded_lines(stream, max_bytes: int) -> Iterator[bytes | None]:
    """Yield each line (without its newline), or None for a line over ``max_bytes``, in bounded memory."""
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:  # skip the rest of the oversized line chunk by chunk
                rest = stream.readline(_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line.rstrip(b"\r\n")


def read_jsonl(spec: SourceSpec) -> Iterator[Record]:
    """One record per line of JSONL files; blank lines are skipped, not counted as documents."""
    for path, file_id in iter_files(spec):
        meta = base_metadata(spec, path)
        line_number = 0
        try:
            with open_binary(path) as stream:
                for line_number, line in enumerate(_bounded_lines(stream, spec.max_bytes), start=1):
                    if line_number == 1 and line is not None:
                        line = line.removeprefix(b"\xef\xbb\xbf")  # a BOM is no part of the first row
                    row_id = f"{file_id}#{line_number}"
                    row_meta = {**meta, "line": line_number}
                    if line is None:
                        yield rejection(row_id, spec.name, "line too long", row_meta)
                        continue
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line.decode("utf-8"))
                    except UnicodeDecodeError as error:
                        yield rejection(
                            row_id, spec.name, "invalid UTF-8", {**row_meta, "detail": f"byte {error.start}"}
                        )
                        continue
                    except (json.JSONDecodeError, RecursionError) as error:  # RecursionError: "[[[[..."
                        yield rejection(
                            row_id, spec.name, "malformed JSON", {**row_meta, "detail": str(error)}
                        )
                        continue
                    yield _row_record(spec, row, row_id, row_meta)
        except READ_ERRORS as error:
            detail = f"{error} (after line {line_number})"
            yield rejection(
                f"{file_id}#rest", spec.name, "truncated or corrupt file", {**meta, "detail": detail}
            )
        if line_number == 0 and path.stat().st_size == 0:
            yield rejection(file_id, spec.name, "empty file", meta)


def read_parquet(spec: SourceSpec) -> Iterator[Record]:
    """One record per row of Parquet files, read in record batches of the id and text columns.

    A ``.gz``/``.zst``/``.bz2`` around a Parquet file is unpacked to a temporary file first, because
    Parquet needs random access (its footer is at the end).
    """
    for path, file_id in iter_files(spec):
        meta = base_metadata(spec, path)
        with tempfile.TemporaryDirectory() as scratch:
            try:
                source = path
                if path.suffix.lower() in (".gz", ".bz2", ".zst", ".zstd"):
                    source = Path(scratch) / path.stem
                    with open_binary(path) as packed, source.open("wb") as unpacked:
                        shutil.copyfileobj(packed, unpacked, _CHUNK)
                parquet = pq.ParquetFile(source)
                names = parquet.schema_arrow.names
                columns = [c for c in (spec.id_field, spec.text_field, "metadata") if c and c in names]
                row_number = 0
                for batch in parquet.iter_batches(batch_size=1024, columns=columns):
                    for row in batch.to_pylist():
                        row_number += 1
                        if isinstance(row.get("metadata"), str):
                            try:
                                row["metadata"] = json.loads(row["metadata"])
                            except (json.JSONDecodeError, RecursionError):
                                row.pop("metadata")
                        yield _row_record(spec, row, f"{file_id}#{row_number}", {**meta, "row": row_number})
                promised = parquet.metadata.num_rows
                if row_number < promised:  # a damaged page can read as no rows: the footer says how many
                    detail = f"{row_number} of the {promised} rows the footer lists could be read"
                    yield rejection(f"{file_id}#rest", spec.name, "truncated or corrupt file", {**meta, "detail": detail})
            except (*READ_ERRORS, pa.ArrowException) as error:
                yield rejection(
                    f"{file_id}#rest", spec.name, "truncated or corrupt file", {**meta, "detail": str(error)}
                )
