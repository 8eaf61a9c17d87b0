"""The sample corpus's templates and word lists, read from the JSON files beside this module.

All of it was written for garimpo (nothing is copied from anywhere). ``prose.json`` holds the clean
Portuguese: per-topic sentence templates and slot values, sentences that fit any topic (``{tema}`` is
the topic's theme, so they read naturally everywhere), the cities of each variety, and the pt-BR ->
pt-PT vocabulary (only pairs that keep the grammatical gender, so swapped sentences stay grammatical).
``defects.json`` holds the planted defects' material: Spanish and English sentences, the words that
make near duplicates, keyword spam, short junk lines and blog authors. ``instruct.json`` holds the
Alpaca-style records written for this sample and the English answers given to Portuguese questions.

The JSON order is the order the generator draws in: reordering an entry changes the corpus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

Slots = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Topic:
    """Sentence templates and slot values for one subject; ``{slot}`` picks a random value."""

    theme: str
    titles: tuple[str, ...]
    sentences: tuple[str, ...]
    slots: Slots


def _load(name: str) -> dict[str, Any]:
    # importlib.resources, so the files are found in an installed wheel (or a zip) as in a checkout.
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def _slots(raw: dict[str, list[str]]) -> Slots:
    return {name: tuple(values) for name, values in raw.items()}


_PROSE, _DEFECTS, _INSTRUCT = _load("prose.json"), _load("defects.json"), _load("instruct.json")

TOPICS: tuple[Topic, ...] = tuple(
    Topic(t["theme"], tuple(t["titles"]), tuple(t["sentences"]), _slots(t["slots"])) for t in _PROSE["topics"]
)
GENERIC_SENTENCES: tuple[str, ...] = tuple(_PROSE["generic_sentences"])
GENERIC_SLOTS: Slots = _slots(_PROSE["generic_slots"])
CITIES: Slots = _slots(_PROSE["cities"])
PT_PT_WORDS: dict[str, str] = dict(_PROSE["pt_pt_words"])

SPANISH_SENTENCES: tuple[str, ...] = tuple(_DEFECTS["spanish"]["sentences"])
SPANISH_SLOTS: Slots = _slots(_DEFECTS["spanish"]["slots"])
ENGLISH_SENTENCES: tuple[str, ...] = tuple(_DEFECTS["english"]["sentences"])
ENGLISH_SLOTS: Slots = _slots(_DEFECTS["english"]["slots"])
NEAR_DUPLICATE_WORDS: tuple[str, ...] = tuple(_DEFECTS["near_duplicate_words"])
SPAM_KEYWORDS: tuple[str, ...] = tuple(_DEFECTS["spam_keywords"])
SHORT_JUNK: tuple[str, ...] = tuple(_DEFECTS["short_junk"])
BLOG_AUTHORS: tuple[str, ...] = tuple(_DEFECTS["blog_authors"])

# Alpaca-style records, each {"instruction", "input", "output"}; English answers lack "input".
INSTRUCT_RECORDS: tuple[dict[str, str], ...] = tuple(_INSTRUCT["records"])
INSTRUCT_ENGLISH_ANSWERS: tuple[dict[str, str], ...] = tuple(_INSTRUCT["english_answers"])
