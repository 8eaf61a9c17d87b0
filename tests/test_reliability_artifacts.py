"""Artifact safety: tampering is caught, paths stay inside the store, failures leave nothing partial.

A real shards version (sample corpus → curation → tokenizer → shards) is altered on disk in the ways
disks and people alter files; ``garimpo artifacts verify`` (the CLI, in a subprocess) must exit 1
naming the file, and the trainer must refuse with an ``ArtifactError`` naming it. Checkpoints must
load with ``torch.load(weights_only=True)``; a publish that fails (disk full, read-only root) must
leave no version and no temporary folder; the Prefect server and runner must not listen beyond
localhost by default.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

from garimpo.core import LATEST, MANIFEST, ArtifactError, ArtifactStore, Manifest, verify
from garimpo.core.store import TMP_PREFIX
from pipelines.curate import publish_corpus
from pipelines.sample_corpus import write_sample_corpus
from pipelines.shards import build_shards, load_shard_settings
from pipelines.tokenizer import publish_tokenizer
from train.checkpoint import load_checkpoint
from train.config import TrainConfig
from train.trainer import train

REPO = Path(__file__).resolve().parents[1]
NOBODY = 65534


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """A store holding a corpus, a tokenizer and a shards version built by the real pipeline."""
    inputs = tmp_path_factory.mktemp("inputs")
    write_sample_corpus(inputs, n_docs=60)
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    corpus = publish_corpus(
        store, "safe", sorted(p for p in inputs.glob("*.jsonl") if p.name != "instruct.jsonl")
    )
    tokenizer = publish_tokenizer(store, "safe", corpus, vocab_size=512)
    settings = load_shard_settings().replace(val_fraction=0.2, max_tokens_per_shard=4000)
    shards = build_shards(store, "safe", corpus, tokenizer, settings=settings)
    return store.root, shards


@pytest.fixture
def copy(published: tuple[Path, Manifest], tmp_path: Path) -> tuple[Path, Manifest]:
    """A private copy of the store, free to damage, and the shards manifest loaded from it."""
    root, shards = published
    shutil.copytree(root, tmp_path / "store")
    store = ArtifactStore(tmp_path / "store")
    return store.root, store.load_ref(shards.ref)


def cli_verify(root: Path, ref: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "garimpo", "--artifacts", str(root), "artifacts", "verify", ref],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def tiny_config(**changes: Any) -> TrainConfig:
    cfg = TrainConfig.from_toml("tiny")
    settings = {"max_steps": 2, "eval_every": 0, "eval_windows": 2, "eval_sample_tokens": 0, "device": "cpu"}
    for key, value in {**settings, **changes}.items():
        setattr(cfg, key, value)
    return cfg


def _first_shard(m: Manifest) -> str:
    return next(f.path for f in m.files if f.path.endswith(".ds") and f.extra.get("split") == "train")


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


ALTERATIONS = {"flipped byte": _flip, "truncated": _truncate, "missing": Path.unlink}


def test_an_intact_store_verifies(copy: tuple[Path, Manifest]) -> None:
    root, shards = copy
    done = cli_verify(root, shards.ref)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout


@pytest.mark.parametrize("alteration", list(ALTERATIONS))
def test_an_altered_shard_is_reported_by_verify_and_refused_by_the_trainer(
    copy: tuple[Path, Manifest], alteration: str
) -> None:
    root, shards = copy
    name = _first_shard(shards)
    ALTERATIONS[alteration](shards.path_of(name))
    done = cli_verify(root, shards.ref)
    assert done.returncode == 1
    assert name in done.stdout and "FAILED" in done.stdout
    with pytest.raises(ArtifactError, match=re.escape(name)):
        train(tiny_config(), shards.ref, artifacts_root=root, run_name="refused")
    assert not list((root / "checkpoints").glob("refused/*.pt"))


@pytest.mark.parametrize("alteration", list(ALTERATIONS))
def test_an_altered_manifest_is_reported_and_refused(copy: tuple[Path, Manifest], alteration: str) -> None:
    root, shards = copy
    manifest = shards.root / MANIFEST
    if alteration == "flipped byte":  # a recorded checksum that no longer matches its file
        data = json.loads(manifest.read_text())
        data["files"][0]["sha256"] = "0" * 64
        manifest.write_text(json.dumps(data))
    else:
        ALTERATIONS[alteration](manifest)
    done = cli_verify(root, shards.ref)
    assert done.returncode == 1
    named = shards.files[0].path if alteration == "flipped byte" else str(manifest)
    assert named in done.stdout + done.stderr
    with pytest.raises(ArtifactError, match=re.escape(named)):
        train(tiny_config(), shards.ref, artifacts_root=root, run_name="refused")


@pytest.mark.parametrize("escape", ["parent", "absolute", "symlink"])
def test_manifest_paths_cannot_leave_the_version_folder(copy: tuple[Path, Manifest], escape: str) -> None:
    root, shards = copy
    name = _first_shard(shards)
    inside = shards.path_of(name)
    outside = root.parent / "outside.ds"
    shutil.copyfile(inside, outside)
    if escape == "symlink":  # same bytes, but the file now lives outside the store
        inside.unlink()
        inside.symlink_to(outside)
    else:
        data = json.loads((shards.root / MANIFEST).read_text())
        entry = next(f for f in data["files"] if f["path"] == name)
        entry["path"] = os.path.relpath(outside, shards.root) if escape == "parent" else str(outside)
        (shards.root / MANIFEST).write_text(json.dumps(data))
    done = cli_verify(root, shards.ref)
    assert done.returncode == 1
    assert "unsafe path" in done.stdout
    reloaded = ArtifactStore(root).load_ref(shards.ref)
    assert any("unsafe path" in p for p in verify(reloaded))
    with pytest.raises(ArtifactError, match="unsafe path"):
        train(tiny_config(), shards.ref, artifacts_root=root, run_name="refused")


def test_checkpoints_load_with_weights_only_and_pickled_code_is_refused(
    copy: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, shards = copy
    result = train(tiny_config(), shards.ref, artifacts_root=root, run_name="safe")
    state = torch.load(result.checkpoint_path, map_location="cpu", weights_only=True)
    assert state["step"] == 2
    assert state["lineage"]["shards"] == [shards.ref]
    assert all(isinstance(v, torch.Tensor) for v in state["model"].values())
    hostile = tmp_path / "step_0000003.pt"
    torch.save({**state, "payload": _Payload()}, hostile)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(hostile)


class _Payload:
    """Stands for arbitrary pickled code a tampered checkpoint could carry."""


def test_disk_full_midway_leaves_no_version_and_no_temporary_folder(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    before = store.publish("corpus", "full", lambda d: (d / "a.txt").write_text("primeira versão") and None)

    def build(folder: Path) -> None:
        (folder / "a.txt").write_text("segunda versão, maior")
        (folder / "b.txt").write_bytes(b"x" * 4096)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "c.txt"))

    with pytest.raises(OSError) as caught:
        store.publish("corpus", "full", build)
    assert caught.value.errno == errno.ENOSPC
    name_dir = tmp_path / "corpus" / "full"
    assert sorted(p.name for p in name_dir.iterdir()) == sorted([before.version, LATEST])
    assert not list(name_dir.glob(f"{TMP_PREFIX}*"))
    assert store.load("corpus", "full").version == before.version
    assert verify(store.load("corpus", "full")) == []


PUBLISH_INTO_READ_ONLY = """
import os, sys
from garimpo.core import ArtifactStore
if os.geteuid() == 0:  # root ignores permissions: drop to user nobody once the imports are done
    os.setgid(int(sys.argv[2]))
    os.setuid(int(sys.argv[2]))
try:
    ArtifactStore(sys.argv[1]).publish("corpus", "ro", lambda d: (d / "a.txt").write_text("novo") and None)
except PermissionError as error:
    print(f"refused: {error}")
    sys.exit(3)
"""


def test_publishing_into_a_read_only_root_fails_clearly_and_leaves_nothing() -> None:
    """Root ignores permissions, so as root the publishing subprocess drops to user nobody."""
    scratch = Path(tempfile.mkdtemp(prefix="garimpo-ro-"))
    try:
        scratch.chmod(0o755)
        store = ArtifactStore(scratch / "store")
        existing = store.publish("corpus", "ro", lambda d: (d / "a.txt").write_text("antigo") and None)
        for path in [store.root, *store.root.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        before = sorted(str(p) for p in store.root.rglob("*"))
        done = subprocess.run(
            [sys.executable, "-c", PUBLISH_INTO_READ_ONLY, str(store.root), str(NOBODY)],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO), "HOME": str(scratch)},
            check=False,
        )
        assert done.returncode == 3, done.stdout + done.stderr
        assert "Permission denied" in done.stdout and str(store.root / "corpus" / "ro") in done.stdout
        assert sorted(str(p) for p in store.root.rglob("*")) == before
        assert store.load("corpus", "ro").version == existing.version
    finally:
        for path in [scratch, *scratch.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(scratch)


def test_prefect_listens_on_localhost_only_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect.settings

    for name in ("PREFECT_SERVER_API_HOST", "PREFECT_RUNNER_SERVER_ENABLE"):
        monkeypatch.delenv(name, raising=False)
    assert prefect.settings.PREFECT_SERVER_API_HOST.value() == "127.0.0.1"
    assert prefect.settings.PREFECT_RUNNER_SERVER_ENABLE.value() is False
    # flows.py's serve() must not switch the runner's webserver on (it would listen for run requests).
    tree = ast.parse((REPO / "flows.py").read_text())
    serve_calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "serve"
    ]
    assert serve_calls, "flows.py no longer calls prefect.serve; update this test"
    for call in serve_calls:
        assert all(k.arg != "webserver" for k in call.keywords)
