"""Multiple-choice and cloze tasks scored by log-likelihood, as lm-evaluation-harness scores them.

A multiple-choice item is a context, its choices and the gold index. Each choice is scored as the
continuation ``" " + choice`` of the context (``train.eval_model.loglikelihood``); ``acc`` takes the
choice with the highest summed log-probability, ``acc_norm`` the highest per character of the choice
(the harness's length normalisation), ties going to the first choice as ``numpy.argmax`` does.

ENEM items are read from the gpt-4-enem files (``question`` + ``alternatives`` or ``options``, a
letter ``label``): questions that need a figure, annulled ones and items without five choices are
skipped and counted. The prompt is the question followed by ``"\\nResposta:"``, zero-shot.

The cloze task is LAMBADA-style and built from any held-out text: a passage of the first words of a
document, ending on a word of at least ``min_word_chars`` letters that the model must predict. It
reports the share of targets predicted greedily (``acc``) and the mean log-probability per target
word, which moves long before a small model gets any word right.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from train.eval_model import EvalModel, encode_pair, loglikelihoods

LETTERS = "ABCDE"
ENEM_PROMPT = "{question}\nResposta:"
CHOICE_DELIMITER = " "  # the harness's default target_delimiter
_WORD = re.compile(r"\w+", re.UNICODE)
_FIGURE = "[[placeholder]]"


@dataclass
class ChoiceItem:
    id: str
    context: str
    choices: list[str]
    gold: int

    def text(self) -> str:
        """Everything the item shows a reader, for contamination checks."""
        return "\n".join([self.context, *self.choices])


@dataclass
class ChoiceTask:
    name: str
    items: list[ChoiceItem]
    origin: str
    rejected: dict[str, int] = field(default_factory=dict)


def load_enem(name: str, path: str | Path) -> ChoiceTask:
    """ENEM questions from a gpt-4-enem ``.json`` (a list) or ``.jsonl`` file."""
    path = Path(path)
    raw = path.read_text(encoding="utf-8")
    try:
        records = (
            json.loads(raw)
            if path.suffix == ".json"
            else [json.loads(x) for x in raw.splitlines() if x.strip()]
        )
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a list of questions")
    items, rejected = [], {}
    for i, r in enumerate(records):
        item, reason = _enem_item(r, i)
        if item is None:
            rejected[reason] = rejected.get(reason, 0) + 1
        else:
            items.append(item)
    return ChoiceTask(name, items, str(path), rejected)


def _enem_item(r: object, index: int) -> tuple[ChoiceItem | None, str]:
    if not isinstance(r, dict) or not isinstance(r.get("question"), str):
        return None, "no question"
    choices = r.get("options") or r.get("alternatives")
    label = str(r.get("label", "")).strip().upper()
    if r.get("IU") or r.get("has_associated_images") or _FIGURE in r["question"]:
        return None, "needs a figure"
    if label not in LETTERS:
        return None, "annulled or no label"
    if (
        not isinstance(choices, list)
        or len(choices) != len(LETTERS)
        or not all(isinstance(c, str) and c.strip() for c in choices)
    ):
        return None, "not five choices"
    question = r["question"].strip()
    return ChoiceItem(
        str(r.get("id", index)),
        ENEM_PROMPT.format(question=question),
        [c.strip() for c in choices],
        LETTERS.index(label),
    ), ""


def fitting(m: EvalModel, task: ChoiceTask) -> ChoiceTask:
    """The task without items that have a choice longer than the model's context (counted as rejected);
    the harness refuses them too, so both scorers see the same items."""
    kept, rejected = [], dict(task.rejected)
    for item in task.items:
        if max(len(encode_pair(m, item.context, CHOICE_DELIMITER + c)[1]) for c in item.choices) >= m.seq_len:
            rejected["choice longer than the context"] = rejected.get("choice longer than the context", 0) + 1
        else:
            kept.append(item)
    return ChoiceTask(task.name, kept, task.origin, rejected)


def score_choices(m: EvalModel, task: ChoiceTask, device: torch.device) -> dict:
    """``{"acc", "acc_norm", "items", "predictions": [{id, pred, pred_norm, gold, lls}]}``."""
    preds, hits, hits_norm = [], 0, 0
    was_training = m.model.training
    m.model.eval()
    for item in task.items:
        lls = np.array(
            [
                ll
                for ll, _ in loglikelihoods(
                    m, item.context, [CHOICE_DELIMITER + c for c in item.choices], device
                )
            ]
        )
        pred = int(np.argmax(lls))
        pred_norm = int(np.argmax(lls / np.array([float(len(c)) for c in item.choices])))
        hits += pred == item.gold
        hits_norm += pred_norm == item.gold
        preds.append(
            {"id": item.id, "pred": pred, "pred_norm": pred_norm, "gold": item.gold, "lls": lls.tolist()}
        )
    m.model.train(was_training)
    n = len(task.items)
    return {
        "acc": hits / n if n else None,
        "acc_norm": hits_norm / n if n else None,
        "items": n,
        "chance": 1 / len(LETTERS),
        "rejected": dict(task.rejected),
        "predictions": preds,
    }


def cloze_items(
    texts: list[str], max_items: int, passage_words: int = 40, min_word_chars: int = 4
) -> list[ChoiceItem]:
    """LAMBADA-style items: the first words of each document, the last one (>= ``min_word_chars``
    letters, from word ``passage_words // 2`` on) held out as the target. Documents too short are skipped."""
    items = []
    for i, text in enumerate(texts):
        words = list(_WORD.finditer(text))
        end = min(len(words), passage_words) - 1
        while end >= passage_words // 2 and not (
            words[end].group().isalpha() and len(words[end].group()) >= min_word_chars
        ):
            end -= 1
        if end < max(passage_words // 2, 1):
            continue
        target = words[end]
        context = text[: target.start()].rstrip()
        items.append(ChoiceItem(str(i), context, [target.group()], 0))
        if len(items) == max_items:
            break
    return items


def score_cloze(m: EvalModel, items: list[ChoiceItem], device: torch.device) -> dict:
    """Greedy accuracy on the target word and its mean log-probability (nats) and perplexity."""
    was_training = m.model.training
    m.model.eval()
    results = [loglikelihoods(m, it.context, [CHOICE_DELIMITER + it.choices[0]], device)[0] for it in items]
    m.model.train(was_training)
    n = len(results)
    mean_ll = sum(ll for ll, _ in results) / n if n else None
    return {
        "acc": sum(g for _, g in results) / n if n else None,
        "mean_logprob": mean_ll,
        "word_perplexity": math.exp(-mean_ll) if mean_ll is not None else None,
        "items": n,
    }
