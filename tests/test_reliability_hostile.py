"""Hostile inputs end as rejections with their reason, good items beside them survive, memory stays flat.

The corpus of ``tests.fixtures.hostile_corpus`` (invalid UTF-8, NUL bytes, one huge line, truncated
archives, rows of the wrong shape, binaries named ``.txt``, corrupt/encrypted/image-only PDFs, pages
with no body or 100 000 nested divs, damaged WARCs, control tokens in instruction data) goes through
``pipelines.sources.write_jsonl`` with declared formats, then ``pipelines.curate.curate``; its
instruction files through ``pipelines.instruct.curate_instructions``. All of it runs in one
subprocess that reports its peak RSS; the tests then check each item against the expected table.
``bench/reliability.py`` runs the same with the 50 MB line.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.fixtures.hostile_corpus import CONTROL_TOKEN, SOURCE_PREFIX, write_hostile_corpus

REPO = Path(__file__).resolve().parents[1]
BIG_LINE_MB = 8
MAX_RSS_MB = 600  # generous: the pipeline's imports alone take ~420 MB; the huge line must add little

RUN = """
import json, sys
from pathlib import Path
from loguru import logger
from pipelines.curate import curate
from pipelines.instruct import curate_instructions, load_instruct_recipe
from pipelines.sources import SourceSpec, write_jsonl
logger.disable("datatrove")
table, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
read = write_jsonl([SourceSpec(**s) for s in table["sources"]], out / "sources" / "hostile.jsonl")
stats = curate([Path(read["documents_path"]), Path(read["rejects_path"])], out / "corpus")
instruct = curate_instructions([Path(p) for p in table["instruct"]], out / "instruct", load_instruct_recipe())
peak = int(next(x.split()[1] for x in open("/proc/self/status") if x.startswith("VmHWM:")))  # own peak, kB
print(json.dumps({"read": read, "curate": stats, "instruct": instruct, "peak_rss_mb": peak / 1024}))
"""


def run_hostile(corpus_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Read, curate and curate-instructions the hostile corpus in a fresh process; its summary."""
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(corpus_dir / "expected.json"), str(out_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert done.returncode == 0, f"the run crashed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    corpus = tmp_path_factory.mktemp("hostile")
    table = write_hostile_corpus(corpus, seed=0, big_line_mb=BIG_LINE_MB)
    out = tmp_path_factory.mktemp("out")
    summary = run_hostile(corpus, out)
    return {"table": table, "summary": summary, "out": out, **load_outputs(out)}


def load_outputs(out: Path) -> dict[str, Any]:
    """The curated rows (documents, rejects) and instruction outputs a hostile run wrote under ``out``."""
    rows = {
        sub: [
            r for f in sorted((out / "corpus" / sub).glob("*.parquet")) for r in pq.read_table(f).to_pylist()
        ]
        for sub in ("documents", "rejects")
    }
    instruct = {
        name: [json.loads(line) for line in (out / "instruct" / name).read_text().splitlines()]
        for name in ("conversations.jsonl", "rejects.jsonl")
    }
    return {"rows": rows, "instruct": instruct}


def mismatches(run: dict[str, Any]) -> list[str]:
    """Every table item whose fate differs from the expected one (empty when all went as expected)."""
    kept = {r["id"]: r for r in run["rows"]["documents"]}
    rejects = {r["id"]: r for r in run["rows"]["rejects"]}
    conversations = {c["id"]: c for c in run["instruct"]["conversations.jsonl"]}
    instruct_rejects = {r["id"]: r for r in run["instruct"]["rejects.jsonl"]}
    wrong = []
    for e in run["table"]["expected"]:
        if e["stage"] == "instruct" and e["outcome"] == "rejected":
            found = instruct_rejects.get(e["id"])
            got = found and (found["reasons"][0], bool(found["details"][found["reasons"][0]]))
            want = (e["reason"], True)
        elif e["stage"] == "instruct":
            found = conversations.get(e["id"])
            got = found and found["metadata"].get("repairs", [])
            want = [e["reason"]] if e["outcome"] == "repaired" else []
        elif e["outcome"] == "kept":
            got, want = e["id"] in kept, True
        else:
            found = rejects.get(e["id"])
            got = found and (found["stage"], found["reason"])
            want = (
                ("read", SOURCE_PREFIX + e["reason"]) if e["stage"] == "source" else (e["stage"], e["reason"])
            )
        if got != want:
            wrong.append(f"{e['what']} ({e['id']}): expected {want}, got {got}")
    return wrong


def test_the_run_completes_and_every_count_adds_up(run: dict[str, Any]) -> None:
    read, stats = run["summary"]["read"], run["summary"]["curate"]
    assert read["inputs"] == read["documents"] + sum(read["rejected"].values())
    assert stats["documents_in"] == read["inputs"]
    assert stats["documents_in"] == stats["documents_kept"] + stats["documents_rejected"]
    assert len(run["rows"]["documents"]) == stats["documents_kept"]
    assert len(run["rows"]["rejects"]) == stats["documents_rejected"]
    ins = run["summary"]["instruct"]
    assert ins["documents_in"] == ins["documents_kept"] + ins["documents_rejected"]


def test_every_item_meets_its_expected_outcome(run: dict[str, Any]) -> None:
    assert len(run["table"]["expected"]) >= 60
    assert mismatches(run) == []


def test_a_wrong_expectation_is_reported(run: dict[str, Any]) -> None:
    """The comparison itself can fail: a swapped reason and a good item expected rejected show up."""
    table = json.loads(json.dumps(run["table"]))
    table["expected"][1]["reason"] = "malformed JSON"
    table["expected"][0].update(outcome="rejected", reason="empty document")
    assert len(mismatches({**run, "table": table})) == 2


def test_source_rejections_say_what_failed(run: dict[str, Any]) -> None:
    """A reader's rejection carries a detail, e.g. the byte offset of the bad UTF-8 or PDFium's error."""
    details = {
        r["id"]: json.loads(r["metadata"]).get("read_error_detail", "") for r in run["rows"]["rejects"]
    }
    expected = {e["id"]: e["reason"] for e in run["table"]["expected"] if e["stage"] == "source"}
    assert details["hostile-jsonl/mixed.jsonl#2"].startswith("byte ")
    assert "password" in details["hostile-pdf/encrypted.pdf"].lower()
    assert "surrogate" in details["hostile-jsonl/mixed.jsonl#surrogate"]
    assert all(
        r in ("empty document", "empty file", "no main content", "line too long", "not HTML") or details[i]
        for i, r in expected.items()
        if r
    )


def test_good_items_beside_the_bad_ones_are_kept(run: dict[str, Any]) -> None:
    kept = {r["id"]: r for r in run["rows"]["documents"]}
    good = [e for e in run["table"]["expected"] if e["outcome"] == "kept" and e["stage"] == "source"]
    assert len(good) >= 15
    assert [e["id"] for e in good if e["id"] not in kept] == []
    assert "\x00" not in kept["hostile-jsonl/mixed.jsonl#good-nul"]["text"]


def test_every_input_item_is_kept_or_rejected_exactly_once(run: dict[str, Any]) -> None:
    """Items outside the table (the lines read before an archive's damage) are accounted for too."""
    sources = run["out"] / "sources"
    read_ids = [
        json.loads(line)["id"]
        for name in ("hostile.jsonl", "hostile.rejects.jsonl")
        for line in (sources / name).read_text().splitlines()
    ]
    out_ids = [r["id"] for sub in ("documents", "rejects") for r in run["rows"][sub]]
    assert sorted(out_ids) == sorted(read_ids)
    assert all(r["reason"] for r in run["rows"]["rejects"])
    table_ids = {e["id"] for e in run["table"]["expected"]}
    extra = {i.rsplit("#", 1)[0] for i in read_ids if i not in table_ids}
    assert extra <= {f"hostile-packed/truncated.jsonl.{s}" for s in ("gz", "bz2", "zst")}


def test_literal_control_tokens_in_instructions_are_escaped(run: dict[str, Any]) -> None:
    kept = {c["id"]: c for c in run["instruct"]["conversations.jsonl"]}
    repaired = json.dumps(kept["hostile_instruct:control-token"], ensure_ascii=False)
    assert CONTROL_TOKEN not in repaired and "<|query|>" not in repaired
    assert "< |endoftext|>" in repaired


def test_memory_stays_bounded_with_a_huge_line(run: dict[str, Any]) -> None:
    big_mb = run["table"]["big_line_bytes"] / 1e6
    assert big_mb == BIG_LINE_MB
    assert run["summary"]["peak_rss_mb"] < MAX_RSS_MB


def test_the_hostile_corpus_is_deterministic(tmp_path: Path) -> None:
    def digest(folder: Path) -> dict[str, str]:
        return {
            p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "expected.json"
        }

    a = write_hostile_corpus(tmp_path / "a", seed=3, big_line_mb=1)
    b = write_hostile_corpus(tmp_path / "b", seed=3, big_line_mb=1)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert a["expected"] == b["expected"]
    c = write_hostile_corpus(tmp_path / "c", seed=4, big_line_mb=1)
    assert digest(tmp_path / "c") != digest(tmp_path / "a")
    assert all(e["reason"] or e["outcome"] == "kept" for e in c["expected"])
