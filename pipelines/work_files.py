"""The work folder's JSONL files: how a phase writes its kept documents and a stage its rejects.

These files live for one run: each is written once and read once or twice (by the next phase, by
the accounting and by `finalize`). datatrove's ``JsonlWriter`` suits files that are kept: gzip at
fsspec's default level 9, and each record built with ``dataclasses.asdict``, a deep copy of the
document's metadata. Through the CLI on a 10 MB corpus those two were a quarter of the run (3.1 s
compressing, 2.4 s copying). `WorkWriter` writes the same records, still ``.jsonl.gz`` (anything
that reads gzip reads them), at gzip level 1 and from a shallow record; the files grow by about a
third, which `bench/scale.py` reports as the work folder's size.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from datatrove.data import Document
from datatrove.pipeline.writers import JsonlWriter
from fsspec.compression import register_compression

FAST_GZIP = "gzip-level-1"
SUFFIX = ".jsonl.gz"

# Registered on import: a worker process that unpickles a `WorkWriter` imports this module first.
register_compression(
    FAST_GZIP,
    lambda f, mode="rb", **kw: gzip.GzipFile(fileobj=f, mode=mode, compresslevel=1, **kw),
    [],
    force=True,
)


class WorkWriter(JsonlWriter):
    """datatrove's JSONL writer for files of the work folder (gzip level 1, shallow records)."""

    def __init__(self, folder: Path | str, output_filename: str = "${rank}" + SUFFIX) -> None:
        super().__init__(str(folder), output_filename=output_filename, compression=FAST_GZIP)

    def _default_adapter(self, document: Document) -> dict[str, Any]:
        """datatrove's record (non-empty fields; media without bytes) without copying the metadata."""
        if document.media:
            return super()._default_adapter(document)
        fields = (("text", document.text), ("id", document.id), ("metadata", document.metadata))
        return {key: value for key, value in fields if value}


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of one work file, in order."""
    with gzip.open(path, "rb") as f:
        for line in f:
            yield orjson.loads(line)
