"""The optional fastText quality classifier: training, held-out separation, the stage and its recipe.

Positives are real Portuguese sentences from ../shared/data/pt_text (or the sample corpus's clean
documents when the shared data is absent), negatives the generated junk corpus; a fifth of each is held
out. Models are trained small (dim 16, 20k buckets) to stay fast.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from datatrove.data import Document

from garimpo.cli import build_parser
from pipelines.phases import stage_steps
from pipelines.recipe import load_recipe, recipe_from_dict
from pipelines.sample_corpus import write_sample_corpus
from pipelines.stages.quality_model import (
    REASON,
    SCORE_KEY,
    QualityClassifier,
    QualityModel,
    train_quality_classifier,
)
from tests.fixtures.junk_corpus import junk_documents

PT_TEXT = Path(__file__).parents[1] / ".." / "shared" / "data" / "pt_text"
SMALL = {"dim": 16, "bucket": 20_000, "epoch": 10}


def positives(tmp_path: Path) -> list[str]:
    sentences = PT_TEXT / "gsd_sentences_sample3000.jsonl"
    if sentences.is_file():
        return [json.loads(line)["text"] for line in sentences.read_text(encoding="utf-8").splitlines()][
            :1500
        ]
    info = write_sample_corpus(tmp_path / "sample", n_docs=400)
    defective = {
        i
        for ids in info["ids"].values()
        for item in ids
        for i in (item if isinstance(item, list) else [item])
    }
    records = [
        json.loads(line)
        for line in (tmp_path / "sample" / "web.jsonl").read_text(encoding="utf-8").splitlines()
        if line.startswith("{") and line.endswith("}")
    ]
    return [r["text"] for r in records if r.get("id") not in defective and isinstance(r.get("text"), str)]


def split(texts: list[str], seed: int = 0) -> tuple[list[str], list[str]]:
    texts = texts[:]
    random.Random(seed).shuffle(texts)
    cut = len(texts) * 4 // 5
    return texts[:cut], texts[cut:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quality")
    good_train, good_test = split(positives(tmp))
    bad_train, bad_test = split([r["text"] for r in junk_documents(40)])
    model = train_quality_classifier(good_train, bad_train, tmp / "model.bin", **SMALL)
    return model, good_train, bad_train, good_test, bad_test, tmp


def test_classifier_separates_held_out_examples(trained):
    path, _, _, good_test, bad_test, _ = trained
    model = QualityModel(path)
    good = [model.score(t) for t in good_test]
    bad = [model.score(t) for t in bad_test]
    accuracy = (sum(s >= 0.5 for s in good) + sum(s < 0.5 for s in bad)) / (len(good) + len(bad))
    print(f"held-out accuracy {accuracy:.3f} on {len(good)} good / {len(bad)} junk")
    assert len(good) >= 20 and len(bad) >= 20
    assert accuracy >= 0.9
    assert sum(good) / len(good) > sum(bad) / len(bad) + 0.5


def test_training_is_deterministic(trained):
    path, good_train, bad_train, _, _, tmp = trained
    again = train_quality_classifier(good_train, bad_train, tmp / "again.bin", **SMALL)
    assert again.read_bytes() == path.read_bytes()
    with pytest.raises(ValueError, match="positive and one negative"):
        train_quality_classifier(good_train, [], tmp / "none.bin", **SMALL)


def classifier_recipe(model: Path, threshold: float = 0.5):
    data = load_recipe().to_dict()
    data["stages"] = ["normalize", "langid", "quality_classifier", "pii", "dedup"]
    data["quality_classifier"] = {"model_path": str(model), "threshold": threshold}
    return recipe_from_dict(data)


def test_stage_scores_and_rejects_below_threshold(trained):
    path, _, _, good_test, bad_test, _ = trained
    recipe = classifier_recipe(path, threshold=0.5)
    [step] = stage_steps("quality_classifier", recipe)
    assert isinstance(step, QualityClassifier)
    docs = [Document(text=t, id=f"g{i}") for i, t in enumerate(good_test[:10])]
    docs += [Document(text=t, id=f"b{i}") for i, t in enumerate(bad_test[:10])]
    verdicts = [step.filter(d) for d in docs]
    assert all(SCORE_KEY in d.metadata for d in docs)
    for doc, verdict in zip(docs, verdicts, strict=True):
        assert (verdict is True) == (doc.metadata[SCORE_KEY] >= 0.5)
        assert verdict is True or verdict == (False, REASON)
    assert sum(v is True for v in verdicts[:10]) > sum(v is True for v in verdicts[10:])


def test_recipe_records_the_model_checksum_and_checks_the_stage_list(trained, tmp_path):
    path, good_train, bad_train, _, _, _ = trained
    recipe = classifier_recipe(path)
    assert len(recipe.quality_classifier.model_sha256) == 64
    assert recipe_from_dict(recipe.to_dict()) == recipe
    assert load_recipe().quality_classifier.model_path == ""  # off in the default recipe

    data = load_recipe().to_dict()
    with pytest.raises(ValueError, match="add 'quality_classifier' to stages"):
        recipe_from_dict({**data, "quality_classifier": {"model_path": str(path)}})
    with pytest.raises(ValueError, match="needs \\[quality_classifier\\] model_path"):
        recipe_from_dict({**data, "stages": ["normalize", "quality_classifier"]})

    moved = tmp_path / "model.bin"
    moved.write_bytes(path.read_bytes())
    recorded = classifier_recipe(moved).to_dict()
    train_quality_classifier(good_train[:50], bad_train[:50], moved, **SMALL)  # retrained in place
    with pytest.raises(ValueError, match="changed"):
        recipe_from_dict(recorded)


def test_cli_entry_point_trains_from_files(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("\n".join(positives(tmp_path)[:200]) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(r) for r in junk_documents(10)) + "\n", encoding="utf-8")
    parser = build_parser()
    out = tmp_path / "model.bin"
    args = parser.parse_args(
        [
            "quality-classifier",
            "train",
            "--positive",
            str(good),
            "--negative",
            str(bad),
            "--out",
            str(out),
            "--dim",
            "8",
            "--bucket",
            "5000",
            "--epoch",
            "5",
        ]
    )
    assert args.func(args) == 0
    model = QualityModel(out)
    assert model.score("Texto de exemplo sobre a economia do país.") >= 0.0
