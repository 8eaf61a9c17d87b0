"""The evaluation suite on a tiny trained model: held-out bits per byte, ENEM, cloze, contamination.

A real model is trained for a few steps on CPU (shards written by ``tests/train_shards``), then
evaluated through the library, the CLI and the `evaluate` flow. The ENEM test runs the same items
through lm-evaluation-harness on the model's HF export (both offline) and demands the same accuracy.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import torch

from garimpo.core import ArtifactStore
from tests.train_shards import corpus, publish_shards, small_cfg

ENEM_2024 = "instruct/enem_2024_gpt4enem.jsonl"
ENEM_2022 = "instruct/enem_2022_gpt4enem.json"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus(300, seed=3)


@pytest.fixture(scope="module")
def run(store: ArtifactStore, tokenizer_json: Path, texts: list[str]) -> Path:
    from train.trainer import train

    publish_shards(store, "ev", texts, tokenizer_json)
    cfg = small_cfg(max_steps=12, model={"preset": "tiny", "seq_len": 256})
    return train(cfg, "shards/ev", store.root, run_name="ev").run_dir


def _jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text(
        "".join(json.dumps({"id": str(i), "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts))
    )
    return path


NOVEL = [
    "Machado de Assis escreveu Dom Casmurro no Rio de Janeiro, e Bentinho conta a sua história com ciúme.",
    "A Folha publicou ontem uma pesquisa sobre o transporte público em São Paulo e as tarifas de ônibus.",
]


def test_bits_per_byte_counts_exactly_the_bytes_of_the_text(run: Path, tmp_path: Path) -> None:
    from train.eval_model import load_eval_model
    from train.eval_text import heldout_bpb, jsonl_set

    m = load_eval_model(run)
    one = jsonl_set("one", _jsonl(tmp_path / "one.jsonl", NOVEL[:1]))
    many = jsonl_set("many", _jsonl(tmp_path / "many.jsonl", NOVEL * 40))
    out = heldout_bpb(m.model, m.tokenizer, [one, many], m.seq_len, torch.device("cpu"))
    for s in (one, many):
        assert out[s.name]["bytes"] == sum(len(unicodedata.normalize("NFC", t).encode()) for t in s.texts)
        assert 0 < out[s.name]["bpb"] < 20
    assert out["many"]["tokens"] > 40 * out["one"]["tokens"] - 40  # every token predicted once


def test_a_set_counts_its_bad_lines_and_an_empty_one_is_reported(run: Path, tmp_path: Path) -> None:
    from train.eval_suite import evaluate_model, load_eval_settings

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"text": "Uma frase boa e simples."}\nnot json\n{"text": ""}\n{"other": 1}\n\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    settings = load_eval_settings(heldout={"mixed": str(mixed), "empty": str(empty)}, val_split=False)
    result = evaluate_model(run, settings, write=False)
    assert result["sets"]["mixed"]["documents"] == 1
    assert result["sets"]["mixed"]["rejected"] == {"not a JSON line": 1, "no 'text' text": 2}
    assert result["bpb"]["empty"] == {
        "bpb": None,
        "loss": None,
        "tokens": 0,
        "bytes": 0,
        "note": "no documents",
    }
    assert result["bpb"]["mixed"]["bpb"] > 0


def test_nothing_to_evaluate_is_a_clear_error(run: Path) -> None:
    from train.eval_suite import evaluate_model, load_eval_settings

    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_model(run, load_eval_settings(val_split=False), write=False)


def test_contamination_lists_exactly_the_items_seen_in_training(
    run: Path, texts: list[str], tmp_path: Path
) -> None:
    from train.eval_suite import evaluate_model, load_eval_settings

    train_docs = [t for i, t in enumerate(texts) if i % 5 != 4]  # publish_shards puts every fifth in val
    leaked = _jsonl(tmp_path / "leaked.jsonl", [*train_docs[:3], *NOVEL])
    settings = load_eval_settings(heldout={"leaked": str(leaked)}, ngram=8)
    result = evaluate_model(run, settings)
    c = result["contamination"]["heldout_leaked"]
    assert c["items"] == 5 and c["contaminated"] == 3
    assert sorted(d["id"] for d in c["listed"]) == ["0", "1", "2"]
    assert result["model"]["lineage"]["shards"][0].startswith("shards/ev/")
    saved = json.loads(Path(result["path"]).read_text())
    assert saved["sets"]["leaked"]["sha256"] == result["sets"]["leaked"]["sha256"]
    assert Path(result["path"]).parent == run


def test_an_hf_export_and_its_checkpoint_get_the_same_heldout_score(run: Path, tmp_path: Path) -> None:
    from train.eval_suite import evaluate_model, load_eval_settings
    from train.export import export_run

    held = _jsonl(tmp_path / "novel.jsonl", NOVEL * 5)
    settings = load_eval_settings(heldout={"novel": str(held)}, val_split=False, contamination=False)
    ours = evaluate_model(run, settings, write=False)
    exported = evaluate_model(export_run(run, tmp_path / "hf"), settings)
    assert exported["model"]["kind"] == "hf" and exported["model"]["lineage"] == ours["model"]["lineage"]
    assert exported["bpb"]["novel"]["bytes"] == ours["bpb"]["novel"]["bytes"]
    assert exported["bpb"]["novel"]["bpb"] == pytest.approx(ours["bpb"]["novel"]["bpb"], abs=1e-4)
    assert Path(exported["path"]).name == "eval_hf.json"


def test_cloze_items_hold_out_the_last_long_word() -> None:
    from train.eval_choice import cloze_items

    text = " ".join(f"palavra{i}" for i in range(10)) + " de um lado ao outro da cidade grande, sem pressa."
    items = cloze_items([text, "curto demais"], max_items=10, passage_words=16)
    assert len(items) == 1
    item = items[0]
    assert item.choices[0].isalpha() and len(item.choices[0]) >= 4
    assert (item.context + " " + item.choices[0]) in text


@pytest.mark.shared_data
def test_enem_files_load_with_every_skipped_question_counted(shared_data: Path) -> None:
    from train.eval_choice import load_enem

    for name in (ENEM_2024, ENEM_2022):
        path = shared_data / name
        raw = path.read_text(encoding="utf-8")
        n = (
            len(json.loads(raw))
            if path.suffix == ".json"
            else len([x for x in raw.splitlines() if x.strip()])
        )
        task = load_enem("enem", path)
        assert len(task.items) + sum(task.rejected.values()) == n
        assert task.items and task.rejected["needs a figure"] > 0
        assert all(len(it.choices) == 5 and 0 <= it.gold < 5 for it in task.items)
    assert load_enem("enem", shared_data / ENEM_2024).rejected["annulled or no label"] == 1


@pytest.mark.shared_data
def test_garimpo_and_lm_evaluation_harness_agree_on_enem(
    run: Path, shared_data: Path, tmp_path: Path
) -> None:
    from train.eval_choice import fitting, load_enem, score_choices
    from train.eval_harness import run_harness
    from train.eval_model import load_eval_model
    from train.export import export_run

    m = load_eval_model(run)
    task = fitting(m, load_enem("enem_2024", shared_data / ENEM_2024))
    task.items = task.items[:30]
    assert len(task.items) == 30
    ours = score_choices(m, task, torch.device("cpu"))
    theirs = run_harness(export_run(run, tmp_path / "hf"), task, tmp_path / "harness")
    assert theirs["items"] == ours["items"] == 30
    assert theirs["acc"] == ours["acc"] and theirs["acc_norm"] == ours["acc_norm"]
    for a, b in zip(ours["predictions"], theirs["predictions"], strict=True):
        assert (a["id"], a["pred"], a["pred_norm"]) == (b["id"], b["pred"], b["pred_norm"])
        assert a["lls"] == pytest.approx(b["lls"], abs=1e-3)


def test_the_cli_prints_a_table_and_refuses_a_missing_model(
    run: Path, store: ArtifactStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from garimpo.cli import main

    held = _jsonl(tmp_path / "novel.jsonl", NOVEL)
    assert (
        main(["--artifacts", str(store.root), "eval", "--run", str(run), "--heldout", f"novel={held}"]) == 0
    )
    out = capsys.readouterr().out
    assert "novel" in out and "bpb" in out and "cloze_val" in out
    assert main(["eval", "--run", str(tmp_path / "nowhere"), "--heldout", f"novel={held}"]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_the_evaluate_flow_publishes_the_result(run: Path, store: ArtifactStore, tmp_path: Path) -> None:
    from flows import EvaluateParams, evaluate

    held = _jsonl(tmp_path / "novel.jsonl", NOVEL)
    result = evaluate(
        EvaluateParams(target=str(run), heldout={"novel": str(held)}, artifacts=str(store.root))
    )
    assert result["bpb"]["novel"]["bpb"] > 0
    assert Path(result["path"]).is_file()


def test_a_training_config_can_ask_for_the_suite_on_its_last_checkpoint(
    run: Path, store: ArtifactStore
) -> None:
    from train.trainer import train

    cfg = small_cfg(max_steps=4, final_eval="default", model={"preset": "tiny", "seq_len": 64})
    r = train(cfg, "shards/ev", store.root, run_name="ev-final")
    saved = json.loads((r.run_dir / f"eval_{r.checkpoint_path.stem}.json").read_text())
    assert saved["model"]["step"] == 4 and saved["bpb"]["val"]["bpb"] > 0
