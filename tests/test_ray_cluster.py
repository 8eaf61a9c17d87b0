"""Curation on a real two-node Ray cluster publishes the same corpus version as local processes.

Two `ray start` processes on loopback (a head and a worker node, one CPU each) form the cluster; the
`clean-corpus` flow runs against it with two workers, and again with local processes into a second
artifact store. The versions must match file for file, and the cluster's actor table (read from the
GCS, no dashboard needed) must show datatrove's rank workers on both nodes. The cluster is stopped in
``finally`` by signalling only the processes that run under its own temp dir, so a Ray instance the
user has running elsewhere on the machine is left alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.cluster_corpus import assert_same_version, clean_on, write_corpus
from tests.fixtures.prefect_server import free_port
from tests.fixtures.processes import alive, processes, tree

pytestmark = pytest.mark.slow
RAY = Path(sys.executable).parent / "ray"


def _cluster_pids(temp: Path) -> set[int]:
    """The cluster's processes: those whose command line names its temp dir (GCS, raylets) and all
    their descendants (workers and agents, which rename themselves ``ray::...``)."""
    procs = processes()
    roots = {p.pid for p in procs.values() if str(temp).encode() in p.cmdline and p.pid != os.getpid()}
    return tree(roots, procs)


def _stop_cluster(temp: Path) -> None:
    """SIGTERM, then SIGKILL after a grace period, to this test's cluster only."""
    pids = _cluster_pids(temp)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.time() + 15
        while any(alive(pid) for pid in pids) and time.time() < deadline:
            time.sleep(0.5)


def test_clean_corpus_same_on_two_node_ray_cluster_and_local(tmp_path: Path, shared_data: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'garimpo[cluster]')")
    import ray
    from ray._private.state import actors


    pt_text = shared_data / "pt_text"
    if not (pt_text / "bosque_docs.jsonl").is_file():
        pytest.skip(f"{pt_text / 'bosque_docs.jsonl'} is absent")
    corpus = tmp_path / "pt.jsonl"
    write_corpus(corpus, pt_text)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    os.environ.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"})
    temp = Path("/tmp") / f"ray-{tmp_path.name[-8:]}"  # socket paths must stay short
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--disable-usage-stats"]
    head = [
        str(RAY),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--include-dashboard=false",
        f"--temp-dir={temp}",
        *common,
    ]
    worker = [
        str(RAY),
        "start",
        f"--address={address}",
        "--node-ip-address=127.0.0.1",
        f"--temp-dir={temp}",
        *common,
    ]
    if ray.is_initialized():
        ray.shutdown()
    try:
        subprocess.run(head, env=env, check=True, capture_output=True, timeout=180)
        subprocess.run(worker, env=env, check=True, capture_output=True, timeout=180)
        ray.init(address=address, log_to_driver=False)
        deadline = time.time() + 120
        while sum(n["Alive"] for n in ray.nodes()) < 2 and time.time() < deadline:
            time.sleep(1)
        assert sum(n["Alive"] for n in ray.nodes()) == 2
        refs = {kind: clean_on(kind, corpus, tmp_path, ray_address=address) for kind in ("ray", "local")}
        nodes = {
            a["Address"]["NodeID"] for a in actors().values() if "RankWorker" in a.get("ActorClassName", "")
        }
    finally:
        ray.shutdown()
        _stop_cluster(temp)
        shutil.rmtree(temp, ignore_errors=True)
    assert_same_version(tmp_path, refs)
    assert len(nodes) == 2, f"tasks ran on {len(nodes)} node(s)"
