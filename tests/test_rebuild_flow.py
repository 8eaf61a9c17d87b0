"""`rebuild-shards`, the scheduled flow: nothing happens when no source changed; a change gives a new
shard version that keeps the previous tokenizer (so training can continue on it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_rebuild_is_a_no_op_until_a_source_changes(tmp_path: Path) -> None:
    from flows import RebuildShardsParams, rebuild_shards
    from garimpo.core import ArtifactStore
    from pipelines.sample_corpus import write_sample_corpus

    src = tmp_path / "src"
    write_sample_corpus(src, n_docs=120)
    web = src / "web.jsonl"
    params = RebuildShardsParams(
        name="noturno", inputs=[str(web)], vocab_size=512, val_fraction=0.1, artifacts=str(tmp_path / "art")
    )
    store = ArtifactStore(params.artifacts)

    first = rebuild_shards(params)
    assert rebuild_shards(params) == first
    assert len(store.versions("shards", "noturno")) == 1

    # A clean page from another seed of the sample corpus: new, fluent Portuguese that curation keeps.
    other = tmp_path / "other"
    info = write_sample_corpus(other, seed=1, n_docs=120)
    defective = {
        i
        for ids in info["ids"].values()
        for pair in ids
        for i in (pair if isinstance(pair, list) else [pair])
    }
    extra = next(
        r
        for r in map(json.loads, (other / "web.jsonl").read_text().splitlines()[5:])
        if r["id"] not in defective
    )
    extra["id"] = "web-novo"
    with web.open("a") as f:
        f.write(json.dumps(extra, ensure_ascii=False) + "\n")
    second = rebuild_shards(params)
    assert second != first
    new, old = store.load_ref(second), store.load_ref(first)
    assert new.parents["tokenizer"] == old.parents["tokenizer"]
    assert new.parents["corpus"] != old.parents["corpus"]
    assert store.load("shards", "noturno").ref == second
