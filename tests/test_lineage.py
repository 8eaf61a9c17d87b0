"""`garimpo lineage`: from the demo's checkpoint down to its input files, and from a corpus up to the runs.

The store is the one `garimpo demo` makes. Checksums of the input files are computed here
independently; a changed input or a removed parent must show as such, never as a traceback.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from garimpo.core import ArtifactStore
from garimpo.core.lineage import down, latest_run_on, render, runs, up
from tests.fixtures.demo_store import demo_artifacts
from tests.fixtures.prefect_server import BIN


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_artifacts(tmp_path_factory)


def _garimpo(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "garimpo"), "--artifacts", str(root), *args], capture_output=True, text=True, timeout=120
    )


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for c in node["children"] for n in _walk(c))]


def _run_ref(root: Path) -> str:
    [run] = runs(ArtifactStore(root))
    return run.ref


def test_the_demo_checkpoint_leads_down_to_the_sample_files(demo: Path) -> None:
    store = ArtifactStore(demo)
    shards = store.load("shards", "demo")
    out = _garimpo(demo, "lineage", _run_ref(demo))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for ref in (
        shards.ref,
        shards.parents["corpus"],
        shards.parents["tokenizer"],
        shards.parents["instruct"],
    ):
        assert ref in text
    for name in ("blog.jsonl", "web.jsonl", "instruct.jsonl"):
        path = demo / "inputs" / "sample" / name
        assert str(path) in text
        assert hashlib.sha256(path.read_bytes()).hexdigest()[:16] in text
    assert text.count("matches the corpus input fingerprint") == 2  # blog and web; instruct by name
    assert "recipe pt" in text

    tree = json.loads(_garimpo(demo, "lineage", _run_ref(demo), "--json").stdout)
    nodes = _walk(tree)
    assert tree["kind"] == "checkpoints" and tree["step"] == 4
    assert [n["ref"] for n in tree["children"]] == [shards.ref]
    files = {Path(n["ref"]).name: n for n in nodes if n["kind"] == "file"}
    assert (
        files["web.jsonl"]["sha256"]
        == hashlib.sha256((demo / "inputs/sample/web.jsonl").read_bytes()).hexdigest()
    )
    assert files["web.jsonl"]["verified"] and not files["instruct.jsonl"]["verified"]
    # the tokenizer's corpus is the shards' corpus: shown once, then referred to
    assert sum(1 for n in nodes if n["ref"] == shards.parents["corpus"] and not n.get("shown_above")) == 1


def test_up_from_the_corpus_reaches_the_run(demo: Path) -> None:
    store = ArtifactStore(demo)
    corpus = store.load("corpus", "demo")
    tree = up(store, "corpus/demo")
    assert tree.ref == corpus.ref
    refs = {n.ref: n.role for n in tree.walk() if not n.seen}
    assert refs[store.load("shards", "demo").ref] == "as corpus"
    assert refs[_run_ref(demo)] == "trained on"
    out = _garimpo(demo, "lineage", "corpus/demo", "--up")
    assert out.returncode == 0 and _run_ref(demo) in out.stdout
    assert latest_run_on(store, "demo").ref == _run_ref(demo)
    assert latest_run_on(store, "other") is None


def test_a_changed_input_and_a_missing_parent_are_reported(demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "artifacts"
    shutil.copytree(demo, copy, ignore=shutil.ignore_patterns("*.pt", ".cache"))
    store = ArtifactStore(copy)
    with (copy / "inputs" / "sample" / "web.jsonl").open("a") as f:
        f.write('{"id": "added-later", "text": "outro texto"}\n')
    tokenizer = store.load("shards", "demo").parents["tokenizer"]
    shutil.rmtree(copy / tokenizer)
    tree = down(store, _run_ref(copy))
    files = [n for n in tree.walk() if n.kind == "file" and n.role == "input"]
    corpus_files = [n for n in files if n.details.get("found") is False]
    assert {n.ref for n in corpus_files} == {"blog.jsonl", "web.jsonl"}  # the set no longer proves out
    missing = [n for n in tree.walk() if n.details.get("missing")]
    assert [n.ref for n in missing] == [tokenizer]
    text = render(tree)
    assert "not found under inputs/" in text and "MISSING" in text


def test_bad_references_give_a_message(demo: Path, tmp_path: Path) -> None:
    for ref in ("checkpoints/no-such-run", "corpus/no-such-corpus", "not-a-ref"):
        out = _garimpo(demo, "lineage", ref)
        assert out.returncode == 1 and out.stderr.startswith("garimpo: "), (ref, out.stderr)
        assert "Traceback" not in out.stderr
    empty = _garimpo(tmp_path / "empty", "lineage", "checkpoints/x")
    assert empty.returncode == 1 and "no training run" in empty.stderr
