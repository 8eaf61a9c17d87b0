"""`garimpo artifacts` subcommands, driven through argparse exactly as the CLI registers them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from garimpo.cli.artifacts import register
from garimpo.core import ArtifactStore, Manifest
from tests.test_artifacts import lineage_store, publish_files  # noqa: F401  (fixture)


def run(root: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="garimpo")
    parser.add_argument("--artifacts", default=str(root))
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["artifacts", *argv])
    return args.func(args)


def test_list_show_diff_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ArtifactStore(tmp_path)
    a = publish_files(store, "corpus", "c", {"d": b"1"}, config={"k": 1})
    b = publish_files(store, "corpus", "c", {"d": b"2"}, config={"k": 2})
    assert run(tmp_path, "list") == 0
    listed = capsys.readouterr().out
    assert a.ref in listed and b.ref in listed

    assert run(tmp_path, "show", "corpus/c", "--files") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == b.version and shown["files"][0]["path"] == "d"

    assert run(tmp_path, "diff", a.ref, str(b.root)) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["config"] == {"k": [1, 2]} and diff["files"]["changed"] == ["d"]

    assert run(tmp_path, "verify") == 0
    assert capsys.readouterr().out.count(": ok") == 2
    (a.root / "d").write_bytes(b"9")
    assert run(tmp_path, "verify", a.ref) == 1
    assert "sha256 mismatch" in capsys.readouterr().out


def test_gc_is_a_dry_run_unless_yes_and_pin_protects(
    lineage_store: tuple[ArtifactStore, dict[str, Manifest]],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, m = lineage_store
    assert run(store.root, "pin", m["c-old"].ref) == 0
    assert run(store.root, "gc") == 0
    out = capsys.readouterr().out
    assert f"would remove {m['s-old'].ref}" in out
    assert f"keep    {m['c-old'].ref}  (pinned)" in out
    assert (store.root / m["s-old"].ref).is_dir()
    assert run(store.root, "unpin", m["c-old"].ref) == 0
    assert run(store.root, "gc", "--yes") == 0
    assert "removed 2 versions and 1 leftover folders" in capsys.readouterr().out
    assert not (store.root / m["s-old"].ref).exists() and not (store.root / m["c-old"].ref).exists()
