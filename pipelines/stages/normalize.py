"""Normalize stage: repair encoding damage and make equal-looking text byte-equal.

Runs first so every later signal (language score, stop-word counts, dedup hashes) sees one spelling of
each string: mojibake such as "aÃ§Ã£o" is repaired by ftfy (encoding fixes only, the settings of
datatrove's FTFYFormatter, because stricter formatting teaches a model one typography), text is
composed to NFC (so "ação" has one code-point sequence), invisible control and format characters are
dropped, and whitespace is collapsed while paragraph breaks survive for the Gopher paragraph rules.
What changed is recorded in ``metadata["normalized"]`` (a sorted list of fix names).

Speed: ftfy runs only on texts it could change (`needs_ftfy`), the whitespace rules only when one
regex finds something to collapse; the output is the same as running both on every text.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints
from ftfy.badness import BADNESS_RE, MOJIBAKE_CATEGORIES
from ftfy.chardata import CONTROL_CHARS

from pipelines.recipe import NormalizeSettings

# Cc (controls) and Cf (format: zero-width space/joiners, BOM, soft hyphen, bidi marks) carry no text;
# newline and tab are kept here and handled by the whitespace rules.
_KEEP_CONTROLS = {"\n", "\t"}


def _char_class(codepoints: Iterable[int]) -> str:
    """A regex character class of the code points, written as ranges: a class of thousands of single
    characters matches several times slower than the same class as a few hundred ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(set(codepoints)):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return (
        "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges) + "]"
    )


_INVISIBLE = re.compile(
    _char_class(
        cp
        for cp in range(sys.maxunicode + 1)
        if chr(cp) not in _KEEP_CONTROLS and unicodedata.category(chr(cp)) in ("Cc", "Cf")
    )
)
# ftfy (with our settings) changes a text only when (a) its mojibake detector, ftfy.badness.BADNESS_RE,
# matches inside a line, or (b) the text holds a character its other enabled fixers rewrite: C1
# controls, surrogates, terminal escapes, remove_control_chars' table. Running that detector on every
# document costs more than the rest of the stage, so `needs_ftfy` narrows it: every BADNESS_RE
# alternative contains at least one character of _MOJIBAKE_MARKS (the "bad", C1, capital accented,
# box, punctuation, currency, numeric and legal categories, plus the Œ/Ø/Ù/Cyrillic/Greek letters of
# its 3-5 character sequences) and spans at most _MAX_BADNESS_SPAN characters, so the detector only
# runs on the few characters around each mark. Lowercase accented letters, the bulk of Portuguese's
# non-ASCII text, are not marks: no alternative matches on them alone. tests/test_curation_speed.py
# checks that a skipped text is one ftfy leaves unchanged.
_MOJIBAKE_MARKS = re.compile(
    "["
    + "".join(
        MOJIBAKE_CATEGORIES[name]
        for name in (
            "c1",
            "bad",
            "upper_accented",
            "box",
            "start_punctuation",
            "end_punctuation",
            "currency",
            "numeric",
            "law",
        )
    )
    + "ŒœØÙЂВГРСΒΓΞΟ]"
)
_MAX_BADNESS_SPAN = 7  # "ГўВЂВ.x", the longest alternative
# Line-wise, as ftfy applies it: ftfy runs the detector on each line, where "^" is a line start.
_BADNESS_BY_LINE = re.compile(BADNESS_RE.pattern, BADNESS_RE.flags | re.MULTILINE)
_OTHER_FTFY_TARGETS = re.compile(
    _char_class([*CONTROL_CHARS, 0x1B, *range(0x80, 0xA0), *range(0xD800, 0xE000)])
)


def needs_ftfy(text: str, max_segment: int = 1_000_000) -> bool:
    """False only when ftfy's encoding repair (our settings) would return ``text`` unchanged.

    ``max_segment`` is ftfy's ``max_decode_length``: lines longer than that are cut where a
    "^" could match mid-line, so such texts always go to ftfy.
    """
    if len(text) > max_segment or _OTHER_FTFY_TARGETS.search(text):
        return True
    span = _MAX_BADNESS_SPAN
    return any(
        _BADNESS_BY_LINE.search(text, max(0, m.start() - span + 1), m.start() + span)
        for m in _MOJIBAKE_MARKS.finditer(text)
    )


_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x0b\x0c\x85]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_SPACE_AROUND_NEWLINE = re.compile(r" *\n *")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# Whatever `_collapse_whitespace` would change: whitespace other than a space or a newline, two spaces,
# a space beside a newline, three newlines (leading and trailing whitespace are checked apart).
_UNCOLLAPSED = re.compile(r"[^\S\n ]|  | \n|\n |\n\n\n")


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

            if needs_ftfy(text, self.ftfy_config.max_decode_length):
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
    if not (_UNCOLLAPSED.search(text) or text[:1].isspace() or text[-1:].isspace()):
        return text  # most documents: four substitutions that would change nothing
    text = _LINE_BREAKS.sub("\n", text)
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    return _MANY_NEWLINES.sub("\n\n", text).strip()
