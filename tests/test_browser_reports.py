"""The reports as a person sees them: headless Chromium opens the demo's corpus and run reports.

Assertions are on the DOM Chromium rendered (stage names, counts, a rejected sample with its reason),
and a screenshot of each page is saved under ``test-output/`` for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from garimpo.core import ArtifactStore
from garimpo.core.html import report_path
from garimpo.core.lineage import runs
from tests.fixtures.browser import dump_dom, require_chromium, screenshot
from tests.fixtures.demo_store import demo_artifacts


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_chromium()
    return demo_artifacts(tmp_path_factory)


def test_chromium_renders_the_corpus_report(demo: Path) -> None:
    corpus = ArtifactStore(demo).load("corpus", "demo")
    url = report_path(demo, corpus.ref).resolve().as_uri()
    dom = dump_dom(url)
    for s in corpus.stats["stages"]:
        assert f"<td>{s['stage']}</td>" in dom
    assert f'<td class="n">{corpus.stats["documents_kept"]:,}</td>' in dom
    assert (
        'data-reason="exact_duplicate"' in dom
        and '<mark class="reason">dedup · exact_duplicate</mark>' in dom
    )
    assert 'data-reason="lang:en"' in dom and "duplicate_of: " in dom
    assert dom.count("<svg") >= 6  # funnel (2), histograms (3), clusters (1)
    shot = screenshot(url, "corpus-report", size=(1200, 3000))
    assert shot.stat().st_size > 50_000  # a page with text and charts, not a blank canvas


def test_chromium_renders_the_run_report(demo: Path) -> None:
    [run] = runs(ArtifactStore(demo))
    url = report_path(demo, run.ref).resolve().as_uri()
    dom = dump_dom(url)
    assert run.shards[0] in dom
    assert 'aria-label="loss"' in dom and "<polyline" in dom  # a curve over several steps
    assert "O Brasil é" in dom  # the eval prompt's sample
    shot = screenshot(url, "run-report", size=(1200, 1600))
    assert shot.stat().st_size > 30_000
