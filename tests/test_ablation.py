"""The `data-ablation` flow on the sample corpus: curated data must give the better model, every seed.

The flow runs in-process on Prefect's embedded API. Raw (readers only) and curated (the shipped
recipe) variants of the sample corpus share one tokenizer, one tiny model config and two seeds, at
the same token budget; both are judged on clean sample pages written with another seed and kept out
of every variant. The sample generator builds every page from the same sentence templates, so
unrelated pages share up to ~75% of their 13-grams: the held-out check runs at 0.8 here, which
still refuses a copied page (100%), as the refusal test shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from garimpo.core import ArtifactError

pytestmark = pytest.mark.slow

EVAL = "threshold = 0.8\ncloze = false\ncontamination = false\n"


def _clean_pages(folder: Path, seed: int, n_docs: int) -> list[dict]:
    from pipelines.sample_corpus import write_sample_corpus

    info = write_sample_corpus(folder, seed=seed, n_docs=n_docs)
    planted = {i for ids in info["ids"].values() for x in ids for i in (x if isinstance(x, list) else [x])}
    return [row for row in _rows(folder / "web.jsonl") if row["id"] not in planted]


def _rows(path: Path) -> list[dict]:
    """The well-formed records with text of a JSONL file (the sample corpus plants malformed lines)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip():
            rows.append(row)
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("ablation")
    (base / "eval.toml").write_text(EVAL)
    heldout = _write_jsonl(base / "heldout.jsonl", _clean_pages(base / "other-seed", seed=1, n_docs=120))
    return {
        "base": base,
        "heldout": heldout,
        "params": {
            "inputs": ["sample"],
            "heldout": {"clean": str(heldout)},
            "config": "ablation",  # the shipped CPU ablation config, at 80 steps
            "max_steps": 80,
            "eval_config": str(base / "eval.toml"),
            "vocab_size": 1024,
            "val_fraction": 0.1,
            "seeds": [0, 1],
            "artifacts": str(base / "artifacts"),
        },
    }


@pytest.fixture(scope="module")
def ablation(setup: dict) -> dict:
    from flows import AblationParams, data_ablation

    return data_ablation(AblationParams(**setup["params"]))


def test_curated_data_gives_lower_heldout_bits_per_byte_for_every_seed(ablation: dict) -> None:
    rows = {row["variant"]: row for row in ablation["summary"]}
    assert set(rows) == {"raw", "curated"}
    raw, curated = rows["raw"]["per_seed"], rows["curated"]["per_seed"]
    assert sorted(raw) == sorted(curated) == ["0", "1"]
    for seed in raw:
        assert curated[seed] < raw[seed], (seed, curated[seed], raw[seed])
    assert rows["curated"]["wins_every_seed"] is True
    assert rows["curated"]["gap_vs_raw"] > 0
    budgets = {run["tokens_seen"] for run in ablation["runs"]}
    assert len(budgets) == 1 and budgets.pop() > 0  # the same token budget for every run
    kept = {v: c["documents_kept"] for v, c in ablation["corpora"].items()}
    assert kept["raw"] > kept["curated"] > 0  # raw keeps the planted junk, curation removes it
    assert len({run["shards"].split("/")[1] for run in ablation["runs"]}) == 2
    assert ablation["tokenizer"].startswith("tokenizer/")  # one tokenizer, shared by both variants


def test_the_report_is_written_with_its_lineage_and_a_plot(ablation: dict) -> None:
    folder = Path(ablation["report"])
    report = json.loads((folder / "report.json").read_text())
    assert [row["variant"] for row in report["summary"]] == ["raw", "curated"]
    assert report["heldout"]["clean"]["sha256"] == ablation["heldout"]["clean"]["sha256"]
    for run in report["runs"]:
        assert run["result"]["model"]["lineage"]["shards"] == [run["shards"]]
        assert run["result"]["sets"]["clean"]["sha256"] == report["heldout"]["clean"]["sha256"]
    assert (folder / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heldout_text_found_in_the_training_data_is_refused(setup: dict, ablation: dict) -> None:
    from flows import AblationParams, data_ablation

    sample = Path(setup["params"]["artifacts"]) / "inputs" / "sample" / "web.jsonl"
    copied = _rows(sample)[:3]
    leaky = _write_jsonl(
        setup["base"] / "leaky.jsonl", [*copied, *_clean_pages(setup["base"] / "s2", 2, 60)[:5]]
    )
    with pytest.raises(ArtifactError, match="occur in the training data of variant"):
        data_ablation(AblationParams(**{**setup["params"], "heldout": {"leaky": str(leaky)}}))


def test_an_empty_heldout_set_is_refused_with_a_message(
    setup: dict, ablation: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from garimpo.cli import main

    empty = setup["base"] / "empty.jsonl"
    empty.write_text("")
    args = ["--artifacts", setup["params"]["artifacts"], "ablate", "sample", "--heldout", f"none={empty}"]
    args += ["--eval-config", setup["params"]["eval_config"]]
    assert main(args) == 1
    assert "held-out set(s) ['none'] hold no documents" in capsys.readouterr().err
    assert main([*args[:-2], "--seeds", "0"]) == 2  # one seed has no spread: refused before any work
    assert "seeds" in capsys.readouterr().err
