"""The corpus layout on disk: a corpus version's ``documents/*.parquet`` and ``rejects/*.parquet``.

Curation writes these files and the tokenizer and shard builders read them; the folder names, the
columns and the schema live here so that writer and readers cannot drift apart (``docs/formats.md``).
Every column is a string (``metadata`` is a JSON object in text), files are cut at a fixed row count
and written in row groups of ``ROW_GROUP_ROWS``, so neither writing nor reading a file holds more
than one row group, and there is always at least one file per folder, so a reader of an all-rejected
corpus still finds the schema. Rows are written in the order they are given: the caller (curation)
decides that order, which is what makes the same inputs give byte-identical files.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from garimpo.core import Manifest

DOCUMENTS_DIR = "documents"
REJECTS_DIR = "rejects"
DOCUMENT_COLUMNS = ("id", "text", "source", "metadata")
REJECT_COLUMNS = ("id", "text", "source", "stage", "reason", "metadata")
ROW_GROUP_ROWS = 4096


def schema(columns: Sequence[str]) -> pa.Schema:
    """The arrow schema of a corpus file with these columns: every column a string."""
    return pa.schema([(c, pa.string()) for c in columns])


def write_corpus_files(
    out_dir: Path,
    documents: Iterable[dict[str, Any]],
    rejects: Iterable[dict[str, Any]],
    *,
    rows_per_file: int,
    compression: str,
) -> None:
    """Replace ``out_dir``'s ``documents/`` and ``rejects/`` with these rows, in the order given.

    Each row is a dict holding at least the folder's columns (other keys are ignored). The rows are
    consumed as a stream, one row group at a time, so memory does not grow with the corpus.
    """
    for sub in (DOCUMENTS_DIR, REJECTS_DIR):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    _write_rows(out_dir / DOCUMENTS_DIR, documents, DOCUMENT_COLUMNS, rows_per_file, compression)
    _write_rows(out_dir / REJECTS_DIR, rejects, REJECT_COLUMNS, rows_per_file, compression)


def _write_rows(
    folder: Path, rows: Iterable[dict[str, Any]], columns: tuple[str, ...], per_file: int, compression: str
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    file_schema = schema(columns)
    source = iter(rows)
    for number in itertools.count():
        file_rows = itertools.islice(source, per_file)
        group = list(itertools.islice(file_rows, ROW_GROUP_ROWS))
        # Always at least one file, so readers of an all-rejected corpus still find the schema.
        if not group and number:
            return
        with pq.ParquetWriter(folder / f"{number:05d}.parquet", file_schema, compression=compression) as writer:
            while True:
                writer.write_table(pa.table({c: [r[c] for r in group] for c in columns}, schema=file_schema))
                if not (group := list(itertools.islice(file_rows, ROW_GROUP_ROWS))):
                    break


def parquet_rows(path: Path) -> int:
    """The row count of one parquet file, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows


def corpus_batches(
    corpus: Manifest, columns: list[str], batch_size: int = 256
) -> Iterator[dict[str, list[Any]]]:
    """Batches ``{column: values}`` of a corpus version's ``documents/*.parquet``, in file order."""
    for batch in record_batches(corpus, DOCUMENTS_DIR, columns, batch_size):
        yield batch.to_pydict()


def corpus_texts(corpus: Manifest) -> Iterator[str]:
    """Every non-empty document text of a corpus version, streamed."""
    for batch in corpus_batches(corpus, ["text"]):
        yield from (t for t in batch["text"] if t)


def record_batches(
    corpus: Manifest, folder: str, columns: list[str], batch_size: int = 4096
) -> Iterator[pa.RecordBatch]:
    """Arrow record batches of one folder of a corpus version (``DOCUMENTS_DIR`` or ``REJECTS_DIR``),
    in file order, for readers that compute over whole columns (reports)."""
    for entry in sorted(corpus.files, key=lambda f: f.path):
        if entry.path.startswith(f"{folder}/") and entry.path.endswith(".parquet"):
            yield from pq.ParquetFile(corpus.path_of(entry)).iter_batches(batch_size, columns=columns)
