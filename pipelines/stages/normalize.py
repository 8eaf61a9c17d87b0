"""Normalize stage: repair encoding damage and make equal-looking text byte-equal.

Runs first so every later signal (language score, stop-word counts, dedup hashes) sees one spelling of
each string: mojibake such as "aÃ§Ã£o" is repaired by ftfy (encoding fixes only, the settings of
datatrove's FTFYFormatter, because stricter formatting teaches a model one typography), text is
composed to NFC (so "ação" has one code-point sequence), invisible control and format characters are
dropped, and whitespace is collapsed while paragraph breaks survive for the Gopher paragraph rules.
What changed is recorded in ``metadata["normalized"]`` (a sorted list of fix names).
"""

from __future__ import annotations

import re
import sys
import unicodedata

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

from pipelines.recipe import NormalizeSettings

# Cc (controls) and Cf (format: zero-width space/joiners, BOM, soft hyphen, bidi marks) carry no text;
# newline and tab are kept here and handled by the whitespace rules.
_KEEP_CONTROLS = {"\n", "\t"}
# One character class of every such code point: a regex pass is ~10x faster than a per-character test.
_INVISIBLE = re.compile(
    "["
    + "".join(
        re.escape(chr(cp))
        for cp in range(sys.maxunicode + 1)
        if chr(cp) not in _KEEP_CONTROLS and unicodedata.category(chr(cp)) in ("Cc", "Cf")
    )
    + "]"
)
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" *\n *")
_MANY_NEWLINES = re.compile(r"\n{3,}")


class TextNormalizer(PipelineStep):
    """Fixes mojibake, applies Unicode NFC, drops invisible characters and collapses whitespace."""

    name = "🧽 Normalize"
    type = "✂️ - FORMAT"

    def __init__(self, settings: NormalizeSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or NormalizeSettings()
        self._ftfy_config = None

    @property
    def ftfy_config(self):
        """ftfy's config, built on first use so the step pickles without it."""
        if self._ftfy_config is None:
            from ftfy import TextFixerConfig

            # Encoding repairs only, as in datatrove's FTFYFormatter: no quote uncurling, no width or
            # ligature folding; normalization is ours (below) so it is recorded separately.
            self._ftfy_config = TextFixerConfig(
                unescape_html=False,
                fix_latin_ligatures=False,
                fix_character_width=False,
                uncurl_quotes=False,
                fix_line_breaks=False,
                normalization=None,
            )
        return self._ftfy_config

    def normalize_text(self, text: str) -> tuple[str, list[str]]:
        """The normalized text and the names of the fixes that changed it."""
        changes = []

        def apply(name: str, enabled: bool, fn) -> None:
            nonlocal text
            if enabled:
                fixed = fn(text)
                if fixed != text:
                    changes.append(name)
                    text = fixed

        s = self.settings
        if s.fix_mojibake:
            import ftfy

            apply("ftfy", True, lambda t: ftfy.fix_text(t, config=self.ftfy_config))
        apply(
            "unicode_" + s.unicode_form.lower(),
            bool(s.unicode_form),
            lambda t: unicodedata.normalize(s.unicode_form, t),
        )
        apply("invisible_chars", s.remove_invisible, lambda t: _INVISIBLE.sub("", t))
        apply("whitespace", s.collapse_whitespace, _collapse_whitespace)
        return text, sorted(changes)

    def normalize(self, doc: Document) -> Document:
        """Normalize one document in place and record the applied fixes in its metadata."""
        doc.text, changes = self.normalize_text(doc.text)
        doc.metadata["normalized"] = changes
        return doc

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update(StatHints.total)
            with self.track_time():
                self.normalize(doc)
            for change in doc.metadata["normalized"]:
                self.stat_update(f"fixed_{change}")
            yield doc


def _collapse_whitespace(text: str) -> str:
    text = _LINE_BREAKS.sub("\n", text)
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()
