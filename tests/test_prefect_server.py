"""A real Prefect server on 127.0.0.1, the deployments served, and runs triggered from the CLI.

This is the path users take (`prefect deployment run clean-corpus/default --watch`), exercised with
the real server, the real serve process and the real CLI. Every process is started in its own
session and killed in `finally`, so nothing is left behind even when an assertion fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from garimpo.core import ArtifactStore, verify
from tests.fixtures.prefect_server import (
    BIN,
    REPO,
    api,
    prefect_server,
    run_deployment,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture()
def prefect_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with prefect_server(tmp_path) as env:
        yield env


def _run_deployment(env: dict[str, str], name: str, params: dict, cwd: Path) -> str:
    return run_deployment(env, name, params, cwd)[1]


def test_deployments_run_on_a_real_server(prefect_env: dict[str, str], tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    serve_log = tmp_path / "serve.log"
    serve = start([sys.executable, str(REPO / "flows.py"), "serve"], prefect_env, tmp_path, serve_log)
    try:
        wait_for(lambda: "train/default" in serve_log.read_text(), 120, "serve deployments", serve, serve_log)
        state = _run_deployment(
            prefect_env, "clean-corpus/default", {"params": {"artifacts": str(artifacts)}}, tmp_path
        )
        assert state == "COMPLETED"
        store = ArtifactStore(artifacts)
        corpus = store.load("corpus", "demo")
        assert verify(corpus) == []
        assert (
            corpus.stats["documents_in"]
            == corpus.stats["documents_kept"] + corpus.stats["documents_rejected"]
        )

        state = _run_deployment(
            prefect_env,
            "build-shards/default",
            {"params": {"artifacts": str(artifacts), "vocab_size": 1024, "val_fraction": 0.1}},
            tmp_path,
        )
        assert state == "COMPLETED"
        shards = store.load("shards", "demo")
        assert shards.parents["corpus"] == corpus.ref

        state = _run_deployment(
            prefect_env,
            "train/default",
            {"params": {"artifacts": str(artifacts), "max_steps": 4}},
            tmp_path,
        )
        assert state == "COMPLETED"
        [checkpoint, *_] = sorted((artifacts / "checkpoints").rglob("*.pt"))

        heldout = tmp_path / "heldout.jsonl"
        heldout.write_text(json.dumps({"text": "Um texto guardado fora do treino, curto e limpo."}) + "\n")
        target = {"target": str(checkpoint), "heldout": {"fora": str(heldout)}, "artifacts": str(artifacts)}
        state = _run_deployment(prefect_env, "evaluate/default", {"params": target}, tmp_path)
        assert state == "COMPLETED"
        result = json.loads((checkpoint.parent / f"eval_{checkpoint.stem}.json").read_text())
        assert result["bpb"]["fora"]["bytes"] > 0 and result["bpb"]["fora"]["bpb"] > 0

        nightly = subprocess.run(
            [str(BIN / "prefect"), "deployment", "inspect", "rebuild-shards/nightly"],
            env=prefect_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert nightly.returncode == 0 and "0 3 * * *" in nightly.stdout, nightly.stdout + nightly.stderr

        listed = subprocess.run(
            [str(BIN / "prefect"), "artifact", "ls"],
            env=prefect_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "curation-demo" in listed.stdout
    finally:
        stop(serve)
    assert serve.poll() is not None


def test_prefect_yaml_deploys_to_a_work_pool(prefect_env: dict[str, str]) -> None:
    env = {**prefect_env, "GARIMPO_HOME": str(REPO)}
    pool = subprocess.run(
        [str(BIN / "prefect"), "work-pool", "create", "garimpo", "--type", "process"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pool.returncode == 0, pool.stdout + pool.stderr
    deploy = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]
    listed = subprocess.run(
        [str(BIN / "prefect"), "deployment", "ls"], env=env, capture_output=True, text=True, timeout=60
    )
    for name in (
        "clean-corpus/default",
        "build-shards/default",
        "rebuild-shards/nightly",
        "train/default",
        "train/on-new-shards",
        "evaluate/default",
        "data-ablation/default",
    ):
        assert name in listed.stdout, listed.stdout
    [automation] = [a for a in api(env, "/automations/filter", {}) if a["name"] == "train on new shards/demo"]
    assert automation["trigger"]["expect"] == ["garimpo.shards.published"]
    assert automation["trigger"]["match"] == {"garimpo.kind": "shards", "garimpo.name": "demo"}
    params = json.dumps(automation["actions"][0]["parameters"])
    assert "event.resource['garimpo.ref']" in params and "event.resource['garimpo.store']" in params
