"""Quality classifier: a fastText model trained on your own good and bad examples (DCLM-style).

The rule-based filters catch what is broken (menus, spam, mojibake, lists); they cannot tell a
well-written article from fluent filler. DCLM's answer is a small fastText classifier trained on
examples of the text you want (positives) against ordinary crawl (negatives), keeping documents the
model scores high. garimpo ships no such model, since what counts as "good" depends on the project:
`train_quality_classifier` trains one from any labelled examples (``thread=1``, a fixed seed and a
fresh process, so the same examples give the same model file), and the ``quality_classifier`` stage
scores every document with it (``metadata["quality_score"]``, the positive label's probability) and
rejects those under the recipe's threshold with reason ``quality_classifier``. The stage runs only when
the recipe lists it and names the model (``[quality_classifier] model_path``, ``threshold``); the
model's SHA-256 joins the recipe so a retrained model gives new corpus versions.

Texts are lowercased and their whitespace collapsed to single spaces, for training and scoring alike:
fastText reads one line per example and, on the few thousand examples a project has, case splits the
vocabulary for nothing.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from garimpo.core.fs import sha256_file
from pipelines.recipe import QualityClassifierSettings

POSITIVE = "__label__hq"
NEGATIVE = "__label__lq"
SCORE_KEY = "quality_score"
REASON = "quality_classifier"
# DCLM's classifier: word bigrams, softmax over two labels. The hashing bucket and dimension are smaller
# than fastText's defaults (2M x 100 floats, 800 MB) so a model stays ~50 MB.
DEFAULT_PARAMS: dict[str, Any] = {
    "lr": 0.1,
    "epoch": 5,
    "dim": 64,
    "wordNgrams": 2,
    "minCount": 1,
    "bucket": 200_000,
    "loss": "softmax",
    "thread": 1,
    "seed": 0,
    "verbose": 0,
}


def prepare(text: str) -> str:
    """The text as the model sees it: lowercased, whitespace collapsed to single spaces (one line)."""
    return " ".join(text.lower().split())


def train_quality_classifier(
    positive: Iterable[str], negative: Iterable[str], out_path: Path, **fasttext_params: Any
) -> Path:
    """Train a fastText classifier (positive = the text to keep) and save it at ``out_path``.

    ``fasttext_params`` override `DEFAULT_PARAMS` (``epoch``, ``dim``, ``wordNgrams``, ``lr``, ...);
    ``thread`` stays 1 unless given, so the model file is the same for the same examples and seed.
    Examples are shuffled with the seed before training, since fastText learns in file order.
    """
    params = {**DEFAULT_PARAMS, **fasttext_params}
    lines = [f"{POSITIVE} {t}" for t in map(prepare, positive) if t]
    n_positive = len(lines)
    lines += [f"{NEGATIVE} {t}" for t in map(prepare, negative) if t]
    if not n_positive or n_positive == len(lines):
        raise ValueError("training needs at least one positive and one negative example")
    random.Random(params["seed"]).shuffle(lines)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="garimpo-quality-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # A fresh interpreter per training: fastText keeps state between trainings in one process (the
        # second run on the same file gives other weights, sometimes NaN), never across processes.
        subprocess.run(
            [
                sys.executable,
                "-c",
                _TRAIN_SCRIPT,
                json.dumps({**params, "input": str(train_file)}),
                str(out_path),
            ],
            check=True,
        )
    return out_path


_TRAIN_SCRIPT = """
import json, sys
import fasttext
fasttext.train_supervised(**json.loads(sys.argv[1])).save_model(sys.argv[2])
"""


class QualityModel:
    """A trained quality classifier: the positive label's probability for any text."""

    def __init__(self, path: Path, sha256: str = "") -> None:
        import fasttext

        if sha256 and sha256_file(Path(path)) != sha256:
            raise ValueError(f"quality model {path} changed since the recipe was loaded")
        self.model = fasttext.load_model(str(path))
        if set(self.model.get_labels()) != {POSITIVE, NEGATIVE}:
            raise ValueError(f"{path} is not a quality model (labels {self.model.get_labels()})")

    def score(self, text: str) -> float:
        labels, probs = self.model.predict(prepare(text), k=2)
        return dict(zip(labels, (float(p) for p in probs), strict=True)).get(POSITIVE, 0.0)


class QualityClassifier(BaseFilter):
    """Scores documents with a trained quality model; rejects those under the recipe's threshold."""

    name = "🎯 Quality classifier (fastText)"

    def __init__(self, settings: QualityClassifierSettings, exclusion_writer=None) -> None:
        super().__init__(exclusion_writer)
        if not settings.model_path:
            raise ValueError("the quality_classifier stage needs [quality_classifier] model_path")
        self.settings = settings
        self._model: QualityModel | None = None

    @property
    def model(self) -> QualityModel:
        """Loaded on first use, so the step pickles cheaply into workers."""
        if self._model is None:
            self._model = QualityModel(Path(self.settings.model_path), self.settings.model_sha256)
        return self._model

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        score = round(self.model.score(doc.text), 4)
        doc.metadata[SCORE_KEY] = score
        if score < self.settings.threshold:
            return False, REASON
        return True


def read_examples(path: Path) -> Iterator[str]:
    """Examples from a file: the ``text`` field of each JSONL line (``.jsonl``, ``.jsonl.gz``), or else
    one example per non-blank line of plain text."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    as_jsonl = ".jsonl" in path.suffixes
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            yield json.loads(line)["text"] if as_jsonl else line
