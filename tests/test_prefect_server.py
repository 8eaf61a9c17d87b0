"""A real Prefect server on 127.0.0.1, the deployments served, and runs triggered from the CLI.

This is the path users take (`prefect deployment run clean-corpus/default --watch`), exercised with
the real server, the real serve process and the real CLI. Every process is started in its own
session and killed in `finally`, so nothing is left behind even when an assertion fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from garimpo.core import ArtifactStore, verify

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}\n{log.read_text()[-3000:]}")
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what}: not ready after {timeout} s\n{log.read_text()[-3000:]}")


@pytest.fixture()
def prefect_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "COLUMNS": "200",
    }
    server_log = tmp_path / "server.log"
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start"],
        env=env,
        stdout=server_log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        _wait_for(healthy, 180, "prefect server", server, server_log)
        yield env
    finally:
        _stop(server)


def _run_deployment(env: dict[str, str], name: str, params: dict, cwd: Path) -> str:
    out = subprocess.run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            name,
            "--params",
            json.dumps(params),
            "--watch",
            "--watch-interval",
            "1",
            "--watch-timeout",
            "900",
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=960,
    )
    assert out.returncode == 0, f"{name} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    run_id = next(line.split("UUID:")[1].strip() for line in out.stdout.splitlines() if "UUID:" in line)
    inspect = subprocess.run(
        [str(BIN / "prefect"), "flow-run", "inspect", run_id, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert inspect.returncode == 0, inspect.stderr
    return json.loads(inspect.stdout)["state_type"]


def test_deployments_run_on_a_real_server(prefect_env: dict[str, str], tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    serve_log = tmp_path / "serve.log"
    serve = subprocess.Popen(
        [sys.executable, str(REPO / "flows.py"), "serve"],
        env=prefect_env,
        cwd=tmp_path,
        stdout=serve_log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for(
            lambda: "train/default" in serve_log.read_text(), 120, "serve deployments", serve, serve_log
        )
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
        assert any((artifacts / "checkpoints").rglob("*.pt"))

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
        _stop(serve)
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
    for name in ("clean-corpus/default", "build-shards/default", "rebuild-shards/nightly", "train/default"):
        assert name in listed.stdout, listed.stdout
