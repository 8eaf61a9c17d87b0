"""Read stage: JSONL lines in, one Document per line out, bad lines included.

A line that is not valid UTF-8, not JSON, not an object, or has no usable ``text`` still becomes a
Document (its raw line as text, marked with ``metadata["read_error"]``) so that `InputCheck` rejects it
with a readable reason and the run's counts include it. Nothing in the input can crash a run or vanish.

Every document gets its provenance, ``input_file`` (path relative to the inputs' common folder, so the
output does not depend on where the data sits) and ``input_line`` (1-based). The pair is the stable
order key of the whole pipeline: dedup keeps the first copy in that order and outputs are sorted by it,
whatever the number of workers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from pipelines.input_plan import Piece
from pipelines.sources.readers import READ_ERRORS, open_binary

READ_ERROR = "read_error"


def order_key(doc: Document) -> tuple[str, int]:
    """Input order of a document: (input_file, input_line); documents without provenance sort first."""
    return doc.metadata.get("input_file", ""), doc.metadata.get("input_line", 0)


class JsonlSource(PipelineStep):
    """Reads JSONL pieces (``id``, ``text``, ``source``, optional ``metadata``; compressed files allowed).

    Other top-level fields go into metadata. Rank ``r`` of ``world_size`` reads pieces ``r, r+N, ...``
    (``pipelines/input_plan.py`` cuts the inputs; normally one task per piece). Blank lines are
    skipped: they hold no document.
    """

    name = "📖 JSONL source"
    type = "📖 - READER"

    def __init__(self, pieces: list[Piece]) -> None:
        super().__init__()
        self.pieces = list(pieces)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for piece in self.pieces[rank::world_size]:
            for doc in read_piece(piece):
                self.stat_update("documents")
                if READ_ERROR in doc.metadata:
                    self.stat_update(f"read_error_{doc.metadata[READ_ERROR]}")
                yield doc


MAX_LINE_BYTES = 32 << 20  # one JSONL line (one document) above this is rejected without being held


def read_jsonl(path: Path, name: str, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Document]:
    """Documents of one whole JSONL file; malformed lines come back marked with ``read_error``."""
    return read_piece(Piece(str(path), name), max_line_bytes)


def read_piece(piece: Piece, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Document]:
    """Documents of one piece of a JSONL file, each line's number counted from the file's start.

    Lines are read with a size cap, so a multi-GB line costs bounded memory: it becomes a
    ``line_too_long`` rejection. A damaged archive ends the file with a ``corrupt_file`` rejection
    after every line read before the damage (only the file's last piece reaches the damage).
    """
    stem = Path(piece.name).name.split(".")[0]
    line_no = piece.first_line - 1
    try:
        with open_binary(Path(piece.path)) as f:
            if piece.compressed:
                _skip_lines(f, line_no)
            else:
                f.seek(piece.start)
            while (piece.end is None or f.tell() < piece.end) and (
                piece.last_line is None or line_no < piece.last_line
            ):
                raw = f.readline(max_line_bytes + 1)
                if not raw:
                    break
                line_no += 1
                if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                    size = len(raw)
                    while (rest := f.readline(1 << 20)) and not rest.endswith(b"\n"):
                        size += len(rest)
                    yield _read_error(stem, piece.name, line_no, "line_too_long", f"over {size} bytes")
                    continue
                if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]  # a UTF-8 byte-order mark is an encoding detail, not content
                if raw.strip():
                    yield parse_line(raw, stem, piece.name, line_no)
    except READ_ERRORS as e:
        yield _read_error(stem, piece.name, line_no + 1, "corrupt_file", f"{type(e).__name__}: {e}")


def _skip_lines(f: BinaryIO, count: int) -> None:
    """Read past ``count`` lines of a stream that cannot be seeked, in bounded chunks."""
    skipped = 0
    while skipped < count and (raw := f.readline(1 << 20)):
        skipped += raw.endswith(b"\n")


def _read_error(stem: str, name: str, line_no: int, reason: str, detail: str) -> Document:
    meta = {"source": stem, "input_file": name, "input_line": line_no, READ_ERROR: reason}
    return Document(text="", id=f"{stem}:{line_no}", metadata={**meta, "read_error_detail": detail})


def parse_line(raw: bytes, stem: str, name: str, line_no: int) -> Document:
    """One JSONL line as a Document, or as a marked error Document holding the raw line."""
    provenance = {"input_file": name, "input_line": line_no}
    fallback_id = f"{stem}:{line_no}"

    def error(reason: str, detail: str, text: str, doc_id: object = None) -> Document:
        meta = {"source": stem, **provenance, READ_ERROR: reason, "read_error_detail": detail}
        return Document(text=text, id=str(doc_id) if doc_id not in (None, "") else fallback_id, metadata=meta)

    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as e:
        return error(
            "invalid_utf8", f"byte {e.start}: {e.reason}", raw.decode("utf-8", errors="replace").rstrip()
        )
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        return error("malformed_json", e.msg + f" at column {e.colno}", line)
    except RecursionError:  # "[[[[..." thousands deep
        return error("malformed_json", "nested deeper than the JSON parser's recursion limit", line)
    if not isinstance(record, dict):
        return error("not_an_object", f"a JSON {type(record).__name__}, not an object", line)
    doc_id = record.pop("id", None)
    if isinstance(doc_id, dict | list):
        return error("id_not_scalar", f"'id' is a JSON {type(doc_id).__name__}", line)
    text = record.pop("text", None)
    if text is None and isinstance(record.get("reason"), str):
        # A source reader's rejection (pipelines.sources: unreadable PDF, truncated archive, ...) passed
        # along so that the corpus's accounting covers every input item, not only the readable ones.
        meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        return error(f"source: {record['reason']}", str(meta.get("detail", "")), "", doc_id)
    if text is None:
        return error("missing_text", f"no 'text' field (fields: {sorted(record)})", line, doc_id)
    if not isinstance(text, str):
        return error("text_not_string", f"'text' is a {type(text).__name__}", line, doc_id)
    metadata = record.pop("metadata", None) or {}
    if not isinstance(metadata, dict):
        return error("metadata_not_object", f"'metadata' is a {type(metadata).__name__}", line, doc_id)
    source = record.pop("source", None)
    metadata = {**record, **metadata, "source": str(source) if source else stem, **provenance}
    try:
        # Lone surrogates ("\ud800") parse as JSON but cannot be written as UTF-8 later.
        json.dumps([text, metadata], ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        return error(
            "invalid_unicode", f"unpaired surrogate at {e.start}", line.encode("utf-8", "replace").decode()
        )
    return Document(text=text, id=str(doc_id) if doc_id not in (None, "") else fallback_id, metadata=metadata)


class InputCheck(BaseFilter):
    """Rejects documents marked by the reader, and documents whose text is empty or only whitespace."""

    name = "🚦 Input check"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if READ_ERROR in doc.metadata:
            return False, doc.metadata.pop(READ_ERROR)
        if not doc.text.strip():
            return False, "empty_text"
        return True
