"""The whole thin path through Prefect, as `make demo` runs it, on the shipped sample corpus.

Runs the `garimpo-demo` flow in-process on Prefect's embedded API (a temporary PREFECT_HOME from
conftest), then checks what a user relies on: every document accounted for per stage and end to end,
each planted defect ending where it should, shards that decode back to the curated text, and a
checkpoint that names the shard version it was trained on.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from garimpo.core import ArtifactStore, verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    from flows import demo

    artifacts = tmp_path_factory.mktemp("demo") / "artifacts"
    out = demo(artifacts=str(artifacts), vocab_size=1024, max_steps=12)
    yield artifacts, out


def _table(folder: Path) -> list[dict]:
    return [row for p in sorted(folder.glob("*.parquet")) for row in pq.read_table(p).to_pylist()]


def test_every_document_is_accounted_for(demo_run: tuple[Path, dict]) -> None:
    _, out = demo_run
    corpus = out["corpus"]
    assert verify(corpus) == []
    stats = corpus.stats
    previous_kept = None
    for stage in stats["stages"]:
        assert stage["in"] == stage["kept"] + stage["rejected"], stage
        assert sum(stage["reasons"].values()) == stage["rejected"], stage
        if previous_kept is not None:
            assert stage["in"] == previous_kept, stage
        previous_kept = stage["kept"]
    assert stats["documents_in"] == stats["documents_kept"] + stats["documents_rejected"]
    info = json.loads(
        (Path(out["corpus"].root).parents[2] / "inputs" / "sample" / "sample_info.json").read_text()
    )
    assert stats["documents_in"] == info["web"]["lines"] + info["blog"]["lines"]
    documents = _table(corpus.root / "documents")
    rejects = _table(corpus.root / "rejects")
    assert len(documents) == stats["documents_kept"]
    assert len(rejects) == stats["documents_rejected"]
    assert all(r["stage"] and r["reason"] for r in rejects)


def test_planted_defects_end_where_they_should(demo_run: tuple[Path, dict]) -> None:
    artifacts, out = demo_run
    info = json.loads((artifacts / "inputs" / "sample" / "sample_info.json").read_text())
    corpus = out["corpus"]
    kept = {d["id"]: d for d in _table(corpus.root / "documents")}
    rejected = {r["id"]: r for r in _table(corpus.root / "rejects")}
    ids = info["ids"]
    for doc_id in ids["spanish"] + ids["english"]:
        assert rejected[doc_id]["stage"] == "langid", doc_id
    for doc_id in ids["short_junk"] + ids["keyword_spam"]:
        assert doc_id in rejected, doc_id
    for kind, reason in (("exact_duplicates", "exact_duplicate"), ("near_duplicates", "near_duplicate")):
        for a, b in ids[kind]:
            assert (a in kept) != (b in kept), (a, b)
            dropped = b if a in kept else a
            assert rejected[dropped]["reason"].startswith(reason), rejected[dropped]
    for doc_id in ids["mojibake"]:
        assert "Ã" not in kept[doc_id]["text"], kept[doc_id]["text"][:200]


def test_curated_corpus_holds_no_template_line(demo_run: tuple[Path, dict]) -> None:
    from pipelines.sources.template_lines import is_template_line

    artifacts, out = demo_run
    info = json.loads((artifacts / "inputs" / "sample" / "sample_info.json").read_text())
    documents = _table(out["corpus"].root / "documents")
    assert documents and any(d["id"].startswith("blog") for d in documents)
    leftovers = [line for d in documents for line in d["text"].split("\n") if is_template_line(line)]
    assert leftovers == []
    stage = next(s for s in out["corpus"].stats["stages"] if s["stage"] == "boilerplate")
    # Every planted blog boilerplate line is removed, by pattern, before language ID.
    assert stage["lines_removed"]["template"] >= info["blog"]["boilerplate_lines"]


def test_shards_decode_back_to_the_curated_text(demo_run: tuple[Path, dict]) -> None:
    from garimpo.core.formats import read_documents

    _, out = demo_run
    shards, corpus = out["shards"], out["corpus"]
    assert verify(shards) == []
    assert shards.parents["corpus"] == corpus.ref
    tok = Tokenizer.from_file(str(shards.path_of("tokenizer.json")))
    eos = tok.token_to_id("<|endoftext|>")
    curated = sorted(d["text"] for d in _table(corpus.root / "documents"))
    decoded = []
    for split in ("train", "val"):
        for ids in read_documents(shards, split, source="text"):
            assert ids[-1] == eos and eos not in ids[:-1]
            decoded.append(tok.decode(ids[:-1], skip_special_tokens=False))
    assert sorted(decoded) == curated


def test_checkpoint_names_its_manifest_and_starts_at_chance(demo_run: tuple[Path, dict]) -> None:
    from train.checkpoint import load_checkpoint

    artifacts, out = demo_run
    shards, result = out["shards"], out["train"]
    state = load_checkpoint(result["checkpoint_path"])
    assert state["lineage"]["shards"][-1] == shards.ref
    assert state["lineage"]["tokenizer_sha256"] == shards.extra["tokenizer_sha256"]
    vocab = shards.extra["vocab_size"]
    assert abs(result["step0_loss"] - math.log(vocab)) / math.log(vocab) < 0.10
    assert result["final_val_loss"] < result["step0_loss"]
    assert isinstance(result["sample"], str)
    assert ArtifactStore(artifacts).load("shards", "demo").ref == shards.ref


def test_every_subcommand_has_help() -> None:
    garimpo = Path(sys.executable).parent / "garimpo"
    top = subprocess.run([str(garimpo), "--help"], capture_output=True, text=True, timeout=60)
    assert top.returncode == 0
    commands = top.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert {"demo", "curate", "train", "shards", "artifacts"} <= set(commands)
    for command in commands:
        out = subprocess.run([str(garimpo), command, "--help"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "usage:" in out.stdout, command
