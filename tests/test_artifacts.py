"""Artifact store: atomic publishing, unsafe manifest paths, damaged files, pins, gc and diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from garimpo.core import (
    MANIFEST,
    ArtifactError,
    ArtifactStore,
    Built,
    FileEntry,
    Manifest,
    gc,
    load_manifest,
    verify,
    verify_or_raise,
)
from garimpo.core.diff import diff_manifests
from garimpo.core.manifest import safe_join


def publish_files(store: ArtifactStore, kind: str, name: str, files: dict[str, bytes], **kwargs) -> Manifest:
    def build(folder: Path) -> Built:
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        return Built(counts={rel: {"documents": 1} for rel in files}, stats={"n": len(files)})

    return store.publish(kind, name, build, **kwargs)


def _rewrite_manifest(m: Manifest, change) -> Manifest:
    data = json.loads((m.root / MANIFEST).read_text())
    change(data)
    (m.root / MANIFEST).write_text(json.dumps(data))
    return load_manifest(m.root)


def test_publish_is_content_addressed_and_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    first = publish_files(store, "corpus", "c", {"a.txt": b"alpha", "sub/b.txt": b"beta"})
    again = publish_files(store, "corpus", "c", {"a.txt": b"alpha", "sub/b.txt": b"beta"})
    assert again.version == first.version == first.fingerprint[:12]
    assert first.stats == {"n": 2} and first.file("sub/b.txt").documents == 1
    assert verify(first) == []

    def broken(folder: Path) -> None:
        (folder / "half.txt").write_bytes(b"partial")
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        store.publish("corpus", "c", broken)
    name_dir = tmp_path / "corpus" / "c"
    assert sorted(p.name for p in name_dir.iterdir()) == sorted([first.version, "latest"])


@pytest.mark.parametrize(
    "bad_path", ["../outside.txt", "sub/../../outside.txt", "/etc/passwd", "link_out.txt", "dir_out/x.txt"]
)
def test_manifest_paths_cannot_escape_the_version_folder(tmp_path: Path, bad_path: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_bytes(b"secret")
    (tmp_path / "store" / "outside.txt").parent.mkdir(parents=True)
    store = ArtifactStore(tmp_path / "store")
    m = publish_files(store, "corpus", "c", {"a.txt": b"alpha"})
    os.symlink(outside / "x.txt", m.root / "link_out.txt")
    os.symlink(outside, m.root / "dir_out")
    with pytest.raises(ArtifactError, match="unsafe path"):
        safe_join(m.root, bad_path)

    def point_elsewhere(data: dict) -> None:
        data["files"][0]["path"] = bad_path

    altered = _rewrite_manifest(m, point_elsewhere)
    problems = verify(altered)
    assert any("unsafe path" in p for p in problems), problems
    with pytest.raises(ArtifactError, match="unsafe path"):
        altered.path_of(bad_path)


def test_symlink_inside_the_folder_is_allowed(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    m = publish_files(store, "corpus", "c", {"a.txt": b"alpha"})
    os.symlink("a.txt", m.root / "alias.txt")
    assert safe_join(m.root, "alias.txt").read_bytes() == b"alpha"


def test_verify_detects_flipped_byte_truncation_missing_file_and_edited_manifest(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    files = {"a.bin": bytes(range(200)), "b.bin": b"x" * 100, "c.bin": b"y" * 50}
    m = publish_files(store, "shards", "s", files)
    data = bytearray((m.root / "a.bin").read_bytes())
    data[17] ^= 0x80
    (m.root / "a.bin").write_bytes(bytes(data))
    (m.root / "b.bin").write_bytes(b"x" * 99)
    (m.root / "c.bin").unlink()
    problems = verify(m)
    assert problems == [
        "a.bin: sha256 mismatch (file altered on disk)",
        "b.bin: size 99 != recorded 100 (truncated or altered)",
        "c.bin: missing",
    ]
    assert verify(m, checksums=False) == problems[1:], "without checksums only sizes are checked"
    with pytest.raises(ArtifactError, match=r"a\.bin"):
        verify_or_raise(m)

    original = (m.root / MANIFEST).read_text()

    def add_entry(data: dict) -> None:
        data["files"].append(FileEntry("a.bin", "0" * 64, 200).to_json())

    assert any("fingerprint" in p for p in verify(_rewrite_manifest(m, add_entry)))

    (m.root / MANIFEST).write_text(original)

    def rename_version(data: dict) -> None:
        data["version"] = "0" * 12

    assert any("not the fingerprint's prefix" in p for p in verify(_rewrite_manifest(m, rename_version)))


def test_a_latest_pointer_cannot_leave_the_store(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    publish_files(store, "corpus", "c", {"a.txt": b"alpha"})
    (tmp_path / "corpus" / "c" / "latest").write_text("../../../etc\n")
    with pytest.raises(ArtifactError, match="invalid version"):
        store.load("corpus", "c")


def test_diff_lists_config_parents_stats_and_files(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    a = publish_files(
        store, "corpus", "c", {"same": b"1", "old": b"2", "edit": b"3"}, config={"k": 1, "nested": {"x": 1}}
    )
    b = publish_files(
        store,
        "corpus",
        "c",
        {"same": b"1", "new": b"4", "edit": b"33"},
        config={"k": 1, "nested": {"x": 2}},
        parents={"corpus": a.ref},
    )
    d = diff_manifests(a, b)
    assert d["config"] == {"nested.x": [1, 2]}
    assert d["parents"] == {"corpus": [None, a.ref]}
    assert d["stats"] == {}
    assert d["files"] == {"added": ["new"], "removed": ["old"], "changed": ["edit"], "unchanged": 1}


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


@pytest.fixture
def lineage_store(tmp_path: Path) -> tuple[ArtifactStore, dict[str, Manifest]]:
    """corpus c1 (old) ← tokenizer t1 ← shards s1 (trained on by a run) ; corpus c2 (latest), shards s2
    (latest, from c2 + t1), corpus c3 pinned, and c-old/shards s-old that nothing needs."""
    store = ArtifactStore(tmp_path)
    m: dict[str, Manifest] = {}
    m["c1"] = publish_files(store, "corpus", "c", {"d": b"one"})
    m["t1"] = publish_files(
        store, "tokenizer", "t", {"tokenizer.json": b"{}"}, parents={"corpus": m["c1"].ref}
    )
    m["s1"] = publish_files(
        store, "shards", "s", {"x.ds": b"11"}, parents={"corpus": m["c1"].ref, "tokenizer": m["t1"].ref}
    )
    m["c-old"] = publish_files(store, "corpus", "c", {"d": b"old"})
    m["s-old"] = publish_files(
        store, "shards", "s", {"x.ds": b"00"}, parents={"corpus": m["c-old"].ref, "tokenizer": m["t1"].ref}
    )
    m["c3"] = publish_files(store, "corpus", "c", {"d": b"three"})
    m["c2"] = publish_files(store, "corpus", "c", {"d": b"two"})
    m["s2"] = publish_files(
        store, "shards", "s", {"x.ds": b"22"}, parents={"corpus": m["c2"].ref, "tokenizer": m["t1"].ref}
    )
    gc.pin(store, f"corpus/c/{m['c3'].version}")
    run = tmp_path / "checkpoints" / "run-a"
    run.mkdir(parents=True)
    (run / "step_0000010.pt").write_bytes(b"weights")
    (run / "run.json").write_text(json.dumps({"lineage": {"shards": [m["s1"].ref], "tokenizer_sha256": "x"}}))
    (tmp_path / "corpus" / "c" / f".tmp-build-{_dead_pid()}").mkdir()
    (tmp_path / "corpus" / "c" / f".tmp-build-{os.getpid()}").mkdir()  # a build running right now
    return store, m


def test_gc_keeps_latest_pins_and_training_lineage_and_removes_the_rest(
    lineage_store: tuple[ArtifactStore, dict[str, Manifest]],
) -> None:
    store, m = lineage_store
    plan = gc.collect(store)
    assert sorted(plan.remove) == sorted([m["c-old"].ref, m["s-old"].ref])
    assert len(plan.leftovers) == 1 and plan.leftovers[0].name != f".tmp-build-{os.getpid()}"
    assert set(plan.keep) == {m[k].ref for k in ("c1", "t1", "s1", "c2", "c3", "s2")}
    assert plan.keep[m["s1"].ref] == "trained on by checkpoints/run-a"
    assert plan.keep[m["c1"].ref].startswith("corpus of ")
    assert plan.keep[m["c3"].ref] == "pinned"
    assert plan.bytes > 0
    assert all((store.root / m[k].ref).is_dir() for k in m), "a dry run deletes nothing"
    assert plan.leftovers[0].is_dir()

    gc.collect(store, delete=True)
    assert not (store.root / m["c-old"].ref).exists() and not (store.root / m["s-old"].ref).exists()
    assert not plan.leftovers[0].exists()
    assert (store.root / "corpus" / "c" / f".tmp-build-{os.getpid()}").is_dir()
    for k in ("c1", "t1", "s1", "c2", "c3", "s2"):
        assert verify(store.load_ref(m[k].ref)) == []
    assert not [p for p in store.root.rglob(".trash-*")], "nothing half-deleted is left"
    assert gc.collect(store).remove == []

    gc.unpin(store, m["c3"].ref)
    assert gc.collect(store, delete=True).remove == [m["c3"].ref]


def test_gc_refuses_when_a_run_has_checkpoints_but_no_lineage(
    lineage_store: tuple[ArtifactStore, dict[str, Manifest]],
) -> None:
    store, _ = lineage_store
    broken = store.root / "checkpoints" / "run-b"
    broken.mkdir()
    (broken / "step_0000001.pt").write_bytes(b"w")
    with pytest.raises(ArtifactError, match="run-b"):
        gc.collect(store)


def test_pins_resolve_latest_and_unknown_pins_are_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    m = publish_files(store, "corpus", "c", {"d": b"1"})
    assert gc.pin(store, "corpus/c") == m.ref
    assert gc.pin(store, m.ref) == m.ref
    assert gc.pins(store) == [m.ref]
    with pytest.raises(ArtifactError):
        gc.pin(store, "corpus/c/000000000000")
    with pytest.raises(ArtifactError, match="not pinned"):
        gc.unpin(store, "corpus/c/abcdefabcdef")
