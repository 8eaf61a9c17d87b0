"""HTML reports of corpus versions and training runs: what they show is what the version holds.

Figures on the page are checked against numbers computed here from the parquet files and the run
folder; the demo's reports are the ones its flows wrote. Zero, one, many: an empty input, a corpus
where everything is rejected and a run with a cut metrics line all give a page, never a traceback.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from garimpo.core import ArtifactStore
from garimpo.core.html import report_path
from garimpo.core.lineage import runs
from pipelines.curate import publish_corpus
from pipelines.reports import write_corpus_report
from tests.fixtures.demo_store import demo_artifacts
from tests.fixtures.prefect_server import BIN
from train.report import write_run_report


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_artifacts(tmp_path_factory)


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts, keyed by the table's class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.reasons: list[tuple[str, str]] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("class") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and "data-reason" in a:
            self.reasons.append((a["data-stage"] or "", a["data-reason"] or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> _Tables:
    p = _Tables()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _num(cell: str) -> int:
    return int(cell.replace(",", ""))


def _text_bytes(folder: Path) -> int:
    return sum(
        len(t.encode())
        for f in sorted(folder.glob("*.parquet"))
        for t in pq.read_table(f)["text"].to_pylist()
    )


def test_the_demo_flow_wrote_a_corpus_report_that_matches_the_version(demo: Path) -> None:
    corpus = ArtifactStore(demo).load("corpus", "demo")
    path = report_path(demo, corpus.ref)
    assert path.is_file(), "the clean-corpus flow did not write the report"
    page = _parse(path)
    funnel = page.tables["funnel"]
    assert funnel[0] == ["stage", "documents in", "kept", "rejected", "bytes in", "bytes kept"]
    stages = corpus.stats["stages"]
    assert [r[0] for r in funnel[1:]] == [s["stage"] for s in stages]
    for row, s in zip(funnel[1:], stages, strict=True):
        assert [_num(c) for c in row[1:4]] == [s["in"], s["kept"], s["rejected"]]
    kept_bytes = _text_bytes(corpus.root / "documents")
    rejected_bytes = _text_bytes(corpus.root / "rejects")
    assert _num(funnel[-1][5]) == kept_bytes
    assert _num(funnel[1][4]) == kept_bytes + rejected_bytes
    reasons = {(r[0], r[1]): _num(r[2]) for r in page.tables["reasons"][1:]}
    assert reasons == {(s["stage"], k): v for s in stages for k, v in s["reasons"].items()}
    # every reason has a sample, at most three, each one a document rejected for that reason
    assert set(page.reasons) == set(reasons)
    assert all(page.reasons.count(key) == min(3, n) for key, n in reasons.items())
    clusters = page.tables["clusters"]
    assert sum(_num(r[1]) for r in clusters[1:]) == corpus.stats["documents_kept"]
    assert sum(_num(r[2]) for r in clusters[1:]) == corpus.stats["documents_kept"] + sum(
        v for (st, _), v in reasons.items() if st == "dedup"
    )
    assert "<svg" in path.read_text() and "http" not in re.sub(r'xmlns="[^"]+"', "", path.read_text())


def test_garimpo_report_rewrites_the_same_page(demo: Path, tmp_path: Path) -> None:
    corpus = ArtifactStore(demo).load("corpus", "demo")
    written = report_path(demo, corpus.ref).read_text()
    out = subprocess.run(
        [
            str(BIN / "garimpo"),
            "--artifacts",
            str(demo),
            "report",
            "corpus/demo",
            "--out",
            str(tmp_path / "c.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c.html").read_text() == written  # deterministic: same samples, same figures
    st = corpus.stats
    assert (
        f"read {st['documents_rejected']:,} rejected and {st['documents_kept']:,} kept documents"
        in out.stderr
    )
    wrong = subprocess.run(
        [str(BIN / "garimpo"), "--artifacts", str(demo), "report", "shards/demo"],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 1 and "reports are written for corpus versions" in wrong.stderr


def test_the_run_report_shows_every_evaluation_and_sample(demo: Path, tmp_path: Path) -> None:
    [run] = runs(ArtifactStore(demo))
    path = report_path(demo, run.ref)
    assert path.is_file(), "the train flow did not write the run report"
    page = _parse(path)
    events = [json.loads(line) for line in (run.folder / "metrics.jsonl").read_text().splitlines()]
    vals = [e for e in events if e["kind"] == "val"]
    evals = page.tables["evals"]
    assert [_num(r[0]) for r in evals[1:]] == [e["step"] for e in vals]
    assert [float(r[1]) for r in evals[1:]] == pytest.approx([e["loss"] for e in vals], rel=1e-3)
    summary = dict(page.tables["summary"][1:])
    assert summary["trained on"] == " → ".join(run.shards)
    assert summary["step"] == f"{run.step} of {run.info['max_steps']}"
    html = path.read_text()
    assert html.count('class="doc sample"') == sum(
        len(e["samples"]) for e in events if e["kind"] == "samples"
    )

    # a metrics line cut by a kill is skipped; the page is still written
    cut = tmp_path / "checkpoints" / run.name
    shutil.copytree(run.folder, cut, ignore=shutil.ignore_patterns("*.pt"))
    with (cut / "metrics.jsonl").open("a") as f:
        f.write('{"kind": "train", "step": 99, "lo')
    again = _parse(write_run_report(cut))
    assert [r[0] for r in again.tables["evals"]] == [r[0] for r in evals]
    (cut / "run.json").unlink()
    out = subprocess.run(
        [str(BIN / "garimpo"), "--artifacts", str(tmp_path), "report", f"checkpoints/{run.name}"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "no training run" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "lines, kept",
    [
        ([], 0),  # zero documents
        ([{"id": "en-1", "text": "The weather was mild and the market opened late on Sunday morning."}], 0),
    ],
    ids=["empty-input", "all-rejected"],
)
def test_a_corpus_with_nothing_kept_still_has_a_report(tmp_path: Path, lines: list[dict], kept: int) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    corpus = publish_corpus(ArtifactStore(tmp_path / "a"), "zero", [src])
    page = _parse(write_corpus_report(corpus))
    html = report_path(tmp_path / "a", corpus.ref).read_text()
    assert corpus.stats["documents_kept"] == kept
    assert "no document was kept" in html
    if lines:
        assert page.reasons and page.reasons[0][0] == "langid"
    else:
        assert "no document was rejected" in html


def test_a_report_of_real_portuguese_text(shared_data: Path, tmp_path: Path) -> None:
    """Bosque (pt-BR and pt-PT news, 1,961 documents) through the shipped recipe, then its report."""
    src = shared_data / "pt_text" / "bosque_docs.jsonl"
    corpus = publish_corpus(ArtifactStore(tmp_path), "bosque", [src])
    page = _parse(write_corpus_report(corpus))
    funnel = page.tables["funnel"]
    assert _num(funnel[1][1]) == corpus.stats["documents_in"] == 1961
    assert _num(funnel[-1][2]) == corpus.stats["documents_kept"] > 1000
    assert _num(funnel[-1][5]) == _text_bytes(corpus.root / "documents")
    histograms = report_path(tmp_path, corpus.ref).read_text().split('id="histograms"')[1]
    assert histograms.count("<rect") >= 3 * 5  # three histograms with real spread
