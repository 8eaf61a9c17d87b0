"""One input file is cut into pieces, every phase runs on all of them, and the corpus does not change.

A single JSONL file of real Portuguese documents (with exact and near copies, English and empty
lines) is curated with 1 and with 3 workers: the second run reads it as 3 pieces, runs 3 tasks in
every documents phase, and writes byte-identical corpus files and dedup index.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipelines.curate import DEDUP_INDEX, RUN, curate, phase_names, run_phase
from pipelines.recipe import load_recipe
from pipelines.stages.accounting import invariant_problems

PT_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "pt_text"
RECIPE = load_recipe()


def _corpus(path: Path) -> int:
    source = PT_TEXT / "bosque_docs.jsonl"
    if not source.is_file():
        pytest.skip(f"real Portuguese text not found at {source} (../shared/data is absent)")
    texts = [json.loads(line)["text"] for line in source.read_text(encoding="utf-8").splitlines()][:300]
    rng = random.Random(3)
    rows = [{"id": f"doc-{i}", "text": t, "source": "news", "site": f"s{i % 7}"} for i, t in enumerate(texts)]
    for i in rng.sample(range(len(texts)), 40):  # exact copies, spacing changed
        rows.append({"id": f"copy-{i}", "text": "  " + texts[i].replace(" ", "  ", 3), "source": "news", "site": "s9"})
    for i in rng.sample(range(len(texts)), 20):  # near copies: one word dropped
        words = texts[i].split()
        rows.append({"id": f"near-{i}", "text": " ".join(words[:5] + words[6:]), "source": "blog"})
    rows += [{"id": "en", "text": "The weather in the mountains is cold and wet in winter. " * 5}]
    rows += [{"id": "empty", "text": "   "}]
    rng.shuffle(rows)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def test_one_file_on_three_workers_gives_the_same_corpus(tmp_path: Path) -> None:
    source = tmp_path / "in" / "one.jsonl"
    source.parent.mkdir()
    n = _corpus(source)
    outputs = {}
    for workers in (1, 3):
        work, out = tmp_path / f"work{workers}", tmp_path / f"out{workers}"
        stats = curate([source], out, RECIPE, workers=workers, work_dir=work, seconds_in_stats=False)
        assert invariant_problems(stats) == []
        assert stats["documents_in"] == n
        pieces = json.loads((work / RUN).read_text())["pieces"]
        assert len(pieces) == workers
        for number, phase in enumerate(phase_names(RECIPE)):
            done = sorted((work / f"{number:02d}_{phase}" / "logs" / "completions").iterdir())
            expected = 1 if phase == "dedup-clusters" or workers == 1 else workers
            assert len(done) == expected, phase
        outputs[workers] = out
    reasons = {s["stage"]: s["reasons"] for s in stats["stages"]}
    assert reasons["dedup"].get("exact_duplicate", 0) >= 40
    assert reasons["dedup"].get("near_duplicate", 0) >= 15
    assert "lang:en" in reasons["langid"]
    files = sorted(p.relative_to(outputs[1]) for p in outputs[1].rglob("*") if p.is_file())
    assert Path(DEDUP_INDEX) in files
    for rel in files:
        assert (outputs[1] / rel).read_bytes() == (outputs[3] / rel).read_bytes(), rel


def test_spent_work_files_are_deleted_and_the_run_still_resumes(tmp_path: Path) -> None:
    source = tmp_path / "in" / "one.jsonl"
    source.parent.mkdir()
    _corpus(source)
    work = tmp_path / "work"
    names = phase_names(RECIPE)
    for name in names[: names.index("filter") + 1]:
        run_phase(name, RECIPE, work, [source], workers=2)
    folders = {name: work / f"{number:02d}_{name}" for number, name in enumerate(names)}
    assert not (folders["read"] / "kept").exists() and not (work / "boilerplate").exists()
    assert (folders["filter"] / "kept").is_dir() and (folders["read"] / "rejects").is_dir()
    assert list((work / "dedup").glob("band_*")) and (work / "dedup" / "texts").is_dir()
    first = curate([source], tmp_path / "out1", RECIPE, workers=2, work_dir=work, seconds_in_stats=False)
    assert not (folders["filter"] / "kept").exists() and (folders["dedup"] / "kept").is_dir()
    assert sorted(p.name for p in (work / "dedup").iterdir()) == ["decisions", "tables"]
    # Every phase done: a rerun only finalizes again, from what is left, to the same files.
    again = curate([source], tmp_path / "out2", RECIPE, workers=2, work_dir=work, seconds_in_stats=False)
    assert again == first
    fresh = curate([source], tmp_path / "out3", RECIPE, workers=1, seconds_in_stats=False)
    assert fresh["documents_kept"] == first["documents_kept"]
    for out in ("out2", "out3"):
        for path in sorted((tmp_path / "out1").rglob("*.parquet")):
            assert (tmp_path / out / path.relative_to(tmp_path / "out1")).read_bytes() == path.read_bytes()
