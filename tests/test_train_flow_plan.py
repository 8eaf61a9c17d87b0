"""The `train` flow publishes the memory plan of its config (what `garimpo train --plan` prints) as a
table artifact, one row per GPU and precision. Runs the real flow on Prefect's embedded API
(temporary PREFECT_HOME from conftest) on shards written by ``tests/train_shards.py``."""

from __future__ import annotations

import pytest

from tests.train_shards import corpus, publish_shards

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus(120, seed=6)


def test_train_flow_reports_the_memory_plan(store, texts, tokenizer_json):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows import TrainParams, train

    shards = publish_shards(store, "fluxo", texts, tokenizer_json)
    params = TrainParams(
        shards=shards.ref, config="tiny", max_steps=4, run_name="fluxo-plan", artifacts=str(store.root)
    )
    result = train(params)
    rows = {(r["gpu"], r["precision"]): r for r in result["plan"]}
    assert ("t4", "bf16") not in rows  # a T4 has no bf16
    t4 = rows[("t4", "fp16")]
    assert t4["fits"] and not t4["checkpointing"] and t4["micro_batch"] * t4["grad_accum"] == 8
    assert 0 < t4["peak_gb"] < 15
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["plan-fluxo-plan"]))
        )
    assert found and found[0].type == "table"
    assert "t4" in str(found[0].data) and "fp16" in str(found[0].data)
