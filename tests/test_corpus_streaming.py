"""The corpus writer and the external sort hold bounded memory and still give exact results.

Both are what keeps curation's peak memory flat in corpus size: the sort spills runs to disk and
merges them (in several passes when there are many), the writer cuts files into row groups. The
tests shrink the bounds so that a few rows exercise every path.
"""

from __future__ import annotations

import random

import pyarrow.parquet as pq
import pytest

from pipelines import corpus_files, external_sort
from pipelines.corpus_files import DOCUMENT_COLUMNS, write_corpus_files
from pipelines.external_sort import sorted_stream


@pytest.mark.parametrize("n", [0, 1, 57])
def test_sorted_stream_equals_sorted_and_is_stable(tmp_path, monkeypatch, n):
    monkeypatch.setattr(external_sort, "MERGE_WIDTH", 3)  # 57 rows / 4 per run: two merge passes
    rng = random.Random(n)
    rows = [(rng.randrange(10), i) for i in range(n)]
    out = list(sorted_stream(rows, lambda r: r[0], tmp_path / "spill", run_rows=4))
    assert out == sorted(rows, key=lambda r: r[0])
    assert len(list((tmp_path / "spill").iterdir())) <= 3  # merged runs are removed


def _docs(n):
    return [{"id": f"d{i}", "text": f"texto {i}", "source": "s", "metadata": "{}"} for i in range(n)]


@pytest.mark.parametrize("n, files, groups", [(0, 1, [[0]]), (1, 1, [[1]]), (10, 2, [[3, 3, 1], [3]])])
def test_corpus_files_are_cut_in_row_groups(tmp_path, monkeypatch, n, files, groups):
    monkeypatch.setattr(corpus_files, "ROW_GROUP_ROWS", 3)
    write_corpus_files(tmp_path, iter(_docs(n)), iter([]), rows_per_file=7, compression="zstd")
    paths = sorted((tmp_path / "documents").glob("*.parquet"))
    assert len(paths) == files
    seen = [[pq.ParquetFile(p).metadata.row_group(g).num_rows for g in range(pq.ParquetFile(p).num_row_groups)] for p in paths]
    assert seen == groups
    read = [row for p in paths for row in pq.read_table(p).to_pylist()]
    assert read == _docs(n)
    assert pq.read_schema(paths[0]).names == list(DOCUMENT_COLUMNS)
    rejects = sorted((tmp_path / "rejects").glob("*.parquet"))
    assert len(rejects) == 1 and pq.ParquetFile(rejects[0]).metadata.num_rows == 0
