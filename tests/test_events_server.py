"""Data and model move each other on a real Prefect server: a changed source → new shards → training.

One server on 127.0.0.1 (UI enabled) and one ``garimpo serve`` process for the module. The nightly
rebuild is run the way a user runs it; the training run that follows is started by the server's
automation on the ``garimpo.shards.published`` event alone. A rebuild with nothing changed publishes
nothing and so starts nothing. The last test opens the Prefect UI in headless Chromium on the
curation table artifact of a clean-corpus run of that rebuild and checks the table is rendered.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from garimpo.core import ArtifactStore
from pipelines.sample_corpus import write_sample_corpus
from pipelines.shards import build_shards, load_shard_settings
from tests.fixtures.browser import dump_dom, require_chromium, screenshot
from tests.fixtures.prefect_server import (
    BIN,
    api,
    deployment_runs,
    group_alive,
    prefect_server,
    run_deployment,
    start,
    stop,
)

pytestmark = pytest.mark.slow
FOLLOW = "train/on-new-shards"
# An original Portuguese document, long and varied enough to pass every filter and dedup.
NEW_DOCUMENT = {
    "id": "blog-novo-0001",
    "text": "Como a cooperativa de Palmeira organizou a colheita deste ano\n\n"
    "Os agricultores da cooperativa decidiram dividir as máquinas por turnos, e a colheita do milho "
    "terminou duas semanas antes do previsto. Segundo a presidente, a mudança exigiu muitas reuniões, "
    "mas evitou filas na balança e reduziu o desperdício nos silos. A prefeitura ajudou com a "
    "manutenção das estradas vicinais, que costumavam ficar intransitáveis depois das chuvas de março. "
    "Para o próximo ano, o grupo pretende comprar um secador coletivo e oferecer cursos de "
    "contabilidade rural aos filhos dos associados, que hoje trabalham quase todos fora do município.",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    work = tmp_path_factory.mktemp("events")
    with prefect_server(work, ui=True) as env:
        log = work / "serve.log"
        serve = start(
            [str(BIN / "garimpo"), "serve", "--follow-shards", "demo", "--steps", "3"], env, work, log
        )
        try:
            deadline = time.time() + 120
            while FOLLOW not in log.read_text():
                assert serve.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
            yield env, work
        finally:
            stop(serve)
        assert serve.poll() is not None and not group_alive(serve.pid)  # no flow run left behind


def _wait_runs(env: dict[str, str], count: int, timeout: float = 600) -> list[dict[str, Any]]:
    """Wait until the deployment has ``count`` runs and all are final; fail on a failed one."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = deployment_runs(env, FOLLOW)
        failed = [r for r in runs if r["state_type"] in ("FAILED", "CRASHED", "CANCELLED")]
        assert not failed, f"{FOLLOW} run ended {failed[0]['state_type']}: {failed[0]['state']}"
        if len(runs) >= count and all(r["state_type"] == "COMPLETED" for r in runs):
            return runs
        time.sleep(1)
    raise AssertionError(f"{FOLLOW}: expected {count} completed runs, found {deployment_runs(env, FOLLOW)}")


def _events(env: dict[str, str], name: str) -> list[dict[str, Any]]:
    page = api(env, "/events/filter", {"filter": {"event": {"name": [name]}}, "limit": 50})
    return page["events"]


def _lineage(artifacts: Path, run: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(BIN / "garimpo"), "--artifacts", str(artifacts), "lineage", f"checkpoints/{run}", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_new_shards_start_training_and_an_unchanged_rebuild_starts_nothing(served) -> None:
    env, work = served
    artifacts, inputs = work / "artifacts", work / "sources"
    write_sample_corpus(inputs)
    sources = [str(inputs / "blog.jsonl"), str(inputs / "web.jsonl")]
    params = {
        "params": {"inputs": sources, "artifacts": str(artifacts), "vocab_size": 512, "val_fraction": 0.1}
    }
    store = ArtifactStore(artifacts)

    assert run_deployment(env, "rebuild-shards/nightly", params, work)[1] == "COMPLETED"
    first = store.load("shards", "demo")
    [run1] = _wait_runs(env, 1)
    assert run1["parameters"]["params"]["shards"] == first.ref  # the event's version, not "latest"

    with (inputs / "blog.jsonl").open("a", encoding="utf-8") as f:  # a source changes
        f.write(json.dumps(NEW_DOCUMENT, ensure_ascii=False) + "\n")
    assert run_deployment(env, "rebuild-shards/nightly", params, work)[1] == "COMPLETED"
    second = store.load("shards", "demo")
    assert second.version != first.version
    runs = _wait_runs(env, 2)
    assert runs[1]["parameters"]["params"]["shards"] == second.ref

    # policy "continue": the one run went on training on the new version; its lineage says so
    tree = _lineage(artifacts, f"demo-{first.version}")
    assert [c["ref"] for c in tree["children"] if c["kind"] == "shards"] == [first.ref, second.ref]
    assert tree["step"] == 6
    # the sources live outside the store's inputs/ folder: named, and said to be unproven
    named = [n for n in _walk(tree) if n["kind"] == "file"]
    assert {n["ref"] for n in named} == {"blog.jsonl", "web.jsonl"}
    assert not any(n.get("verified") for n in named)

    published = _events(env, "garimpo.shards.published")
    assert sorted(e["resource"]["garimpo.version"] for e in published) == sorted(
        [first.version, second.version]
    )
    new = next(e for e in published if e["resource"]["garimpo.version"] == second.version)
    roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in new["related"]}
    assert roles["corpus"] == f"garimpo://{second.parents['corpus']}"
    assert roles["tokenizer"] == f"garimpo://{second.parents['tokenizer']}"
    assets = _events(env, "prefect.asset.materialization.succeeded")
    shard_asset = next(e for e in assets if e["resource"]["prefect.resource.id"] == f"garimpo://{second.ref}")
    upstream = {
        r["prefect.resource.id"] for r in shard_asset["related"] if r["prefect.resource.role"] == "asset"
    }
    assert f"garimpo://{second.parents['corpus']}" in upstream
    started = datetime.fromisoformat(runs[1]["start_time"]) - datetime.fromisoformat(new["occurred"])
    print(f"garimpo.shards.published → {FOLLOW} running: {started.total_seconds():.1f} s")
    checkpoints = _events(env, "garimpo.checkpoints.published")
    assert any(
        e["resource"]["garimpo.name"] == f"demo-{first.version}"
        and f"garimpo://{second.ref}" in {r["prefect.resource.id"] for r in e["related"]}
        for e in checkpoints
    )

    # nothing changed: the rebuild returns the published version, emits nothing, starts nothing
    assert run_deployment(env, "rebuild-shards/nightly", params, work)[1] == "COMPLETED"
    time.sleep(15)  # the automation reacts within a second or two; give it far more
    assert len(deployment_runs(env, FOLLOW)) == 2
    assert len(_events(env, "garimpo.shards.published")) == 2

    # two versions announced at the same moment: one run trains, the other waits its turn, none is lost
    deployment = api(env, f"/deployments/name/{FOLLOW}")
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    settings = load_shard_settings()
    corpus, tokenizer = store.load_ref(second.parents["corpus"]), store.load_ref(second.parents["tokenizer"])
    third, fourth = (
        build_shards(store, "demo", corpus, tokenizer, settings=settings.replace(val_fraction=f))
        for f in (0.2, 0.3)
    )
    announce = (
        "import sys; from flows import _announce; from garimpo.core import ArtifactStore; "
        "s = ArtifactStore(sys.argv[1]); [_announce(s, r, s.load_ref(r).parents) for r in sys.argv[2:]]"
    )
    out = subprocess.run(
        [sys.executable, "-c", announce, str(artifacts), third.ref, fourth.ref],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = _wait_runs(env, 4)
    assert {r["parameters"]["params"]["shards"] for r in runs[2:]} == {third.ref, fourth.ref}
    ran, waited = sorted(runs[2:], key=lambda r: r["start_time"])
    assert waited["created"] < ran["end_time"] <= waited["start_time"]  # queued while the other trained
    tree = _lineage(artifacts, f"demo-{first.version}")
    order = [r["parameters"]["params"]["shards"] for r in (ran, waited)]
    assert [c["ref"] for c in tree["children"] if c["kind"] == "shards"] == [first.ref, second.ref, *order]
    assert tree["step"] == 12


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for c in node["children"] for n in _walk(c))]


def test_the_prefect_ui_renders_the_curation_table(served) -> None:
    require_chromium()
    env, _ = served
    found = api(env, "/artifacts/filter", {"artifacts": {"key": {"any_": ["curation-demo"]}}, "limit": 1})
    if not found:
        pytest.skip("no curation artifact: the rebuild test above did not run")
    artifact = found[0]
    flow_run = api(env, f"/flow_runs/{artifact['flow_run_id']}")
    assert api(env, f"/flows/{flow_run['flow_id']}")["name"] == "clean-corpus"
    ui = env["PREFECT_API_URL"].removesuffix("/api")
    url = f"{ui}/artifacts/artifact/{artifact['id']}"
    dom = dump_dom(url, budget_ms=20000)
    for stage in ("langid", "gopher_quality", "dedup"):
        assert stage in dom, f"{stage} not rendered at {url}"
    assert "exact_duplicate" in dom
    screenshot(url, "prefect-ui-curation-artifact", size=(1400, 1400), budget_ms=20000)
    # the clean-corpus run's own page (its timeline draws the artifact on a canvas, so only a picture)
    screenshot(f"{ui}/runs/flow-run/{flow_run['id']}", "prefect-ui-clean-corpus-run", size=(1400, 1000))
