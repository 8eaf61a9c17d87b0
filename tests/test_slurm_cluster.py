"""Curation on a real Slurm cluster (one node, on loopback) publishes the same version as local processes.

`tests/fixtures/slurm_cluster.py` starts munged, slurmctld and slurmd; the `clean-corpus` flow then
runs with ``executor="slurm"`` (every phase a job array, two tasks at a time) and again with local
processes into a second artifact store. The versions must match file for file. A phase whose tasks fail
on Slurm fails the run with a pointer to its logs instead of waiting for ever, and a run restarted in
the same work folder then finishes. Without Slurm's packages or root, or where its daemons cannot
start, the tests skip and say why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.cluster_corpus import assert_same_version, clean_on, write_corpus
from tests.fixtures.slurm_cluster import PARTITION, ClusterStartError, missing_reason, slurm_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm_conf() -> Iterator[Path]:
    """The running cluster's slurm.conf; a skip, with the daemons' logs, where Slurm cannot run here."""
    if reason := missing_reason():
        pytest.skip(reason)
    with contextlib.ExitStack() as stack:
        try:
            conf = stack.enter_context(slurm_cluster(cpus=2))
        except ClusterStartError as e:
            pytest.skip(str(e))
        yield conf


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    pt_text = shared_data / "pt_text"
    if not (pt_text / "bosque_docs.jsonl").is_file():
        pytest.skip(f"{pt_text / 'bosque_docs.jsonl'} is absent")
    path = tmp_path_factory.mktemp("slurm-corpus") / "pt.jsonl"
    write_corpus(path, pt_text, megabytes=1.0)
    return path


def test_clean_corpus_same_on_slurm_and_local(
    tmp_path: Path, corpus: Path, slurm_conf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CONF", str(slurm_conf))
    slurm = {"slurm_partition": PARTITION, "slurm_time": "00:30:00"}
    refs = {kind: clean_on(kind, corpus, tmp_path, **slurm) for kind in ("slurm", "local")}
    assert_same_version(tmp_path, refs)


def test_failed_tasks_fail_the_phase_and_a_rerun_finishes(
    tmp_path: Path, corpus: Path, slurm_conf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.curate import curate, phase_names, run_phase
    from pipelines.executors import ExecutorConfig
    from pipelines.recipe import load_recipe

    monkeypatch.setenv("SLURM_CONF", str(slurm_conf))
    recipe = load_recipe()
    work = tmp_path / "work"
    config = ExecutorConfig(kind="slurm", slurm_partition=PARTITION, slurm_time="00:10:00")
    # Jobs that cannot start their pipeline: launch_pickled_pipeline is on no path they are given.
    monkeypatch.setattr("sys.executable", str(tmp_path / "nowhere" / "python"))
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    with pytest.raises(RuntimeError, match=r"(\d+) of \1 tasks did not finish.*slurm_logs"):
        run_phase(phase_names(recipe)[0], recipe, work, [corpus], workers=2, executor=config)
    logs = list((work / "00_read" / "logs" / "slurm_logs").glob("*.out"))
    assert logs and all("launch_pickled_pipeline" in p.read_text() for p in logs)
    monkeypatch.undo()
    monkeypatch.setenv("SLURM_CONF", str(slurm_conf))
    kwargs = {"workers": 2, "seconds_in_stats": False}
    stats = curate([corpus], tmp_path / "out", recipe, work_dir=work, executor=config, **kwargs)
    local = curate([corpus], tmp_path / "out-local", recipe, **kwargs)
    assert stats["documents_kept"] == local["documents_kept"] > 0
    assert (tmp_path / "out" / "stats.json").read_text() == (tmp_path / "out-local" / "stats.json").read_text()
