"""Phase progress: the pure renderer, the probe inside real worker processes, and the watcher."""

from __future__ import annotations

import io
import json
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from pipelines.progress import ProgressProbe, progress_enabled, read_totals, render, watch_phase

TEXTS = ["olá mundo", "ação", "", "x" * 100, "coração", "fim"]


class Generated(PipelineStep):
    """Yields this rank's share of TEXTS as documents."""

    name = "generated"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for i, text in enumerate(TEXTS):
            if i % world_size == rank:
                yield Document(text=text, id=str(i))


def test_render_zero_documents_unknown_totals() -> None:
    line = render("read", 0, 0, 0.0, None, None)
    assert line.startswith("read | 0 docs | 0.0 MB")
    assert "ETA" not in line and "elapsed 0:00:00" in line


def test_render_eta_from_docs_total() -> None:
    line = render("read", 250, 5_000_000, 10.0, 1000, None)
    assert "250/1,000 docs" in line and "25 docs/s" in line and "0.50 MB/s" in line
    assert "ETA 0:00:30" in line


def test_render_eta_from_bytes_total_and_done() -> None:
    assert "ETA 0:00:10" in render("dedup", 7, 1_000_000, 10.0, None, 2_000_000)
    assert "ETA 0:00:00" in render("dedup", 4, 100, 5.0, 4, None)


def test_probe_in_local_executor_counts_every_document(tmp_path: Path) -> None:
    folder = tmp_path / "progress"
    LocalPipelineExecutor(
        [Generated(), ProgressProbe(folder, every_s=0.0)],
        tasks=2,
        workers=2,
        logging_dir=str(tmp_path / "logs"),
    ).run()
    files = sorted(folder.glob("*.json"))
    assert [f.name for f in files] == ["00000.json", "00001.json"]
    assert all(json.loads(f.read_text())["done"] for f in files)
    assert read_totals(folder) == (len(TEXTS), sum(len(t.encode()) for t in TEXTS))


def test_probe_rerun_overwrites(tmp_path: Path) -> None:
    probe = ProgressProbe(tmp_path)
    for _ in range(2):
        assert [d.text for d in probe.run(Generated().run(rank=0, world_size=1))] == TEXTS
    assert read_totals(tmp_path)[0] == len(TEXTS)


def test_watch_phase_final_line_and_updates(tmp_path: Path) -> None:
    out, updates = io.StringIO(), []
    with watch_phase(
        tmp_path,
        label="read",
        total_docs=len(TEXTS),
        total_bytes=None,
        stream=out,
        enabled=True,
        on_update=lambda f, t: updates.append((f, t)),
    ):
        list(ProgressProbe(tmp_path).run(Generated().run()))
    assert out.getvalue().count("\n") == 1 and out.getvalue().startswith(f"read: {len(TEXTS)} docs")
    assert updates[-1][0] == 1.0 and f"{len(TEXTS)}/{len(TEXTS)} docs" in updates[-1][1]


def test_watch_phase_zero_documents(tmp_path: Path) -> None:
    out, updates = io.StringIO(), []
    with watch_phase(
        tmp_path,
        label="dedup",
        total_docs=None,
        total_bytes=None,
        stream=out,
        enabled=True,
        on_update=lambda f, t: updates.append((f, t)),
    ):
        list(ProgressProbe(tmp_path).run(iter(())))
    assert out.getvalue().startswith("dedup: 0 docs, 0.0 MB")
    assert updates[-1][0] == 1.0


def test_watch_phase_disabled_prints_nothing(tmp_path: Path) -> None:
    out = io.StringIO()
    with watch_phase(tmp_path, label="read", total_docs=None, total_bytes=None, stream=out, enabled=False):
        list(ProgressProbe(tmp_path).run(Generated().run()))
    assert out.getvalue() == ""


def test_progress_enabled_env_override(monkeypatch) -> None:
    monkeypatch.delenv("GARIMPO_PROGRESS", raising=False)
    assert not progress_enabled(False, io.StringIO())
    monkeypatch.setenv("GARIMPO_PROGRESS", "1")
    assert progress_enabled(True, io.StringIO())
    monkeypatch.setenv("GARIMPO_PROGRESS", "0")
    assert not progress_enabled(False, io.StringIO())
