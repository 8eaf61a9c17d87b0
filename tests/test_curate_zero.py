"""Zero is a valid size: an empty batch, a batch emptied at any stage, and one emptied at the last.

Each publishes a corpus version (exit 0) whose every input is accounted for, through the command a
user runs, with a one-line message when nothing was kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from garimpo.cli import main
from garimpo.core import ArtifactStore
from pipelines.sample_corpus import write_sample_corpus

ENGLISH = (
    "This is an English paragraph about the weather in the mountains, long enough for the language "
    "identifier to be sure of what it reads, and it will never pass a Portuguese recipe."
)


def _curate(tmp_path: Path, name: str, *inputs: Path, against: str | None = None) -> dict:
    argv = ["--artifacts", str(tmp_path / "art"), "curate", *map(str, inputs), "--name", name]
    if against:
        argv += ["--dedup-against", against]
    assert main(argv) == 0
    return ArtifactStore(tmp_path / "art").load("corpus", name).stats


def _accounted(stats: dict) -> None:
    assert stats["documents_in"] == stats["documents_kept"] + stats["documents_rejected"]
    for stage in stats["stages"]:
        assert stage["in"] == stage["kept"] + stage["rejected"], stage


def test_an_empty_file_publishes_an_empty_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    stats = _curate(tmp_path, "vazio", empty)
    _accounted(stats)
    assert stats["documents_in"] == 0 and stats["documents_kept"] == 0
    assert "nothing was kept" in capsys.readouterr().out


def test_one_document_rejected_early_leaves_every_later_stage_empty(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"id": "en-1", "text": ENGLISH, "source": "web"}) + "\n")
    stats = _curate(tmp_path, "um", one)
    _accounted(stats)
    assert stats["documents_rejected"] == 1
    langid = next(s for s in stats["stages"] if s["stage"] == "langid")
    assert langid["rejected"] == 1 and langid["kept"] == 0
    after = stats["stages"][stats["stages"].index(langid) + 1 :]
    assert after and all(s["in"] == 0 for s in after)


def test_a_batch_rejected_whole_at_the_last_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_sample_corpus(tmp_path / "src", n_docs=60)
    web = tmp_path / "src" / "web.jsonl"
    first = _curate(tmp_path, "primeiro", web)
    assert first["documents_kept"] > 0
    capsys.readouterr()
    again = _curate(tmp_path, "segundo", web, against="corpus/primeiro")
    _accounted(again)
    last = again["stages"][-1]
    assert last["stage"] == "dedup" and last["in"] > 0 and last["kept"] == 0
    assert again["documents_kept"] == 0
    assert "nothing was kept" in capsys.readouterr().out
