"""Readers that never crash: property tests on arbitrary bytes, and a bounded run of bench/fuzz.py.

The bench mutates 1,000 files per format; here a few per format run through the same harness (a
worker process with a time and memory limit), and hypothesis throws arbitrary bytes at every
source reader, arbitrary text at the template-line rules and arbitrary documents at the
boilerplate and dedup stages. Each must give documents or counted rejections with a reason.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from datatrove.data import Document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from bench.fuzz import FORMATS, Runner, fuzz
from pipelines.recipe import BoilerplateSettings, load_recipe
from pipelines.sources import SourceSpec, write_jsonl
from pipelines.sources.template_lines import remove_template_lines
from pipelines.stages.boilerplate import BoilerplateRemover
from pipelines.stages.dedup import Deduplicator

# Hypothesis keeps caches in ./.hypothesis by default; the working tree is no place for them.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "garimpo-hypothesis")
BOUNDED = settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SOURCE_FORMATS = [f for f in FORMATS if f != "instruct"]
SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet", "text": ".txt", "html": ".html", "warc": ".warc",
            "pdf": ".pdf", "wiki": ".xml", "epub": ".epub"}  # fmt: skip
# Bytes that look like the start of each format, so hypothesis reaches past the first check.
PREFIXES = [b"", b'{"id": 1, "text": "', b"PAR1", b"<html><body><p>", b"WARC/1.0\r\n", b"%PDF-1.4\n",
            b"<mediawiki><page><title>", b"PK\x03\x04"]  # fmt: skip


def _check_counts(counts: dict) -> None:
    assert counts["inputs"] == counts["documents"] + sum(counts["rejected"].values())
    rejects = Path(counts["rejects_path"]).read_text(encoding="utf-8").split("\n")[:-1]
    assert all(json.loads(line)["reason"] for line in rejects)
    docs = Path(counts["documents_path"]).read_text(encoding="utf-8").split("\n")[:-1]
    assert all(json.loads(line)["text"].strip() for line in docs)


@pytest.mark.parametrize("fmt", SOURCE_FORMATS)
@BOUNDED
@given(prefix=st.sampled_from(PREFIXES), data=st.binary(max_size=2048))
def test_any_bytes_become_documents_or_counted_rejections(fmt, prefix, data):
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"input{SUFFIXES[fmt]}"
        path.write_bytes(prefix + data)
        counts = write_jsonl([SourceSpec(str(path), fmt, "prop", max_bytes=1 << 16)], Path(scratch) / "out.jsonl")
        _check_counts(counts)
        assert counts["inputs"] >= 1 or not (prefix + data).strip()


@BOUNDED
@given(lines=st.lists(st.one_of(st.text(max_size=80), st.sampled_from(
    ["Postado por Ana às 10:00", "Marcadores: a, b", "Tags", "Leia também", "3 comentários:", ""])), max_size=30))
def test_template_lines_only_ever_remove_lines(lines):  # fmt: skip
    text = "\n".join(lines)
    cleaned, removed = remove_template_lines(text)
    source = [line.strip() for line in text.split("\n") if line.strip()]
    out = [line for line in cleaned.split("\n") if line.strip()]
    assert removed >= 0 and len(out) <= len(source)
    assert all(any(s.endswith(line.strip()) for s in source) for line in out)


@BOUNDED
@given(texts=st.lists(st.text(min_size=0, max_size=200), max_size=12), site=st.sampled_from(["a.br", "b.br"]))
def test_boilerplate_stage_accounts_for_every_document(texts, site):
    docs = [Document(text=t, id=str(i), metadata={"site": site}) for i, t in enumerate(texts)]
    kept, rejected = BoilerplateRemover(BoilerplateSettings(min_pages=2, sketch_width=64)).clean(docs)
    assert len(kept) + len(rejected) == len(texts)
    assert all(d.text.strip() for d in kept)
    assert all(d.metadata["filter_reason"] == "boilerplate_only" for d in rejected)


@BOUNDED
@given(texts=st.lists(st.text(alphabet="abc ção\n", max_size=300), min_size=1, max_size=10))
def test_dedup_keeps_one_of_each_copy(texts):
    docs = [Document(text=t, id=str(i), metadata={"input_line": i}) for i, t in enumerate(texts + texts[:1])]
    kept, rejected = Deduplicator(load_recipe().dedup).dedupe(docs)
    assert len(kept) + len(rejected) == len(docs)
    assert str(len(texts)) in {d.id for d in rejected}  # the exact copy of the first text goes


def test_bench_harness_on_a_few_mutated_files_per_format():
    # Instruction files are left out here: bench/fuzz.py reports the cases where their validator runs
    # past the time limit on megabyte-long fields (docs/sources.md).
    report = fuzz(per_format=6, seed=3, formats=SOURCE_FORMATS, runner=Runner(time_limit_s=60))
    assert set(report["per_format"]) == set(SOURCE_FORMATS)
    assert all(figures["cases"] == 6 for figures in report["per_format"].values())
    assert report["failures"] == []
    assert sum(figures["records"] for figures in report["per_format"].values()) >= 6 * len(SOURCE_FORMATS)
