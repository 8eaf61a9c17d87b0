"""Quality stages: Gopher repetition, Gopher quality and FineWeb quality rules, tuned for pt and fast.

These are datatrove's GopherRepetitionFilter, GopherQualityFilter and FineWebQualityFilter rules with
datatrove's rejection reasons (``top_4_gram``, ``gopher_short_doc``, ``line_punct_ratio``, ...),
recomputed faster: ~90% of datatrove's time goes to re-tokenizing every document with spaCy, so the
words come from `WordSplitter` (the same words, cached per chunk), repeated n-grams are counted on
word tuples at C speed, and the greedy duplicate-n-gram scan runs only on documents that repeat a
5-gram at all. With the recipe's switches at their dataclass defaults each filter gives datatrove's
verdict (tested against datatrove on every real document); the pt recipe then turns on the changes
below, each measured on ../shared/data/pt_text (docs/curation.md):

* top n-grams only count when they occur ``min_top_ngram_count`` times: datatrove scores the most
  common n-gram even when it occurs once, so every document under ~50 words fails ``top_4_gram``;
* stop words match case-insensitively ("O", "DA" in headlines and sentence starts);
* a line that opens with a dialogue dash (``--``, ``—``) is dialogue, not a bullet: Portuguese
  novels and interviews would otherwise be "90% bullet lines";
* the end-ellipsis rule needs ``min_ellipsis_lines`` lines: one ellipsis closing a one-paragraph
  news item is style, teaser lists repeat it;
* a line holding a sentence end inside it ("... no sul do país. Elas estão ...") counts as
  punctuated prose: hard-wrapped books and text without line breaks end most lines mid-sentence.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import accumulate, filterfalse

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.utils.text import PUNCTUATION_SET, TERMINAL_PUNCTUATION

from pipelines.recipe import FineWebQualitySettings, GopherQualitySettings, RepetitionSettings
from pipelines.stages.words import word_splitter

_SENTENCE_ENDS = (".", "!", "?", "…")
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAKS = re.compile("\n+")
# Terminal punctuation, optional closing marks, space, optional opening marks, then a capital letter.
_INNER_SENTENCE_END = re.compile(r"[.!?…][\"»”’')\]]*\s+[\"«“‘'(\[—–-]*[A-ZÀ-ÖØ-Þ]")
MAX_MEMO = 500_000


def _ngrams(words: list[str], n: int) -> zip:
    return zip(*(words[i:] for i in range(n)), strict=False)


def _top_ngram(words: list[str], n: int) -> tuple[int, int]:
    """(characters covered by the most common word n-gram, its count), as datatrove's
    ``find_top_duplicate`` computes the first; ties go to the n-gram seen first (``most_common``)."""
    counts = Counter(_ngrams(words, n))
    if not counts:
        return 0, 0
    count = max(counts.values())
    top = next(gram for gram, c in counts.items() if c == count)
    return len(" ".join(top)) * count, count


def duplicated_ngram_chars(words: list[str], n: int, prefix: list[int]) -> int:
    """Characters in repeated word n-grams, greedy left to right (datatrove's ``find_all_duplicate``).

    ``prefix[i]`` is the total length of ``words[:i]``. 0 exactly when no n-gram occurs twice.
    """
    grams = list(_ngrams(words, n))
    seen: set[tuple[str, ...]] = set()
    add = seen.add
    repeated, i, end = 0, 0, len(grams)
    while i < end:
        gram = grams[i]
        if gram in seen:
            repeated += prefix[i + n] - prefix[i]
            i += n
        else:
            add(gram)
            i += 1
    return repeated


class RepetitionFilter(BaseFilter):
    """Gopher's repetition rules (duplicate paragraphs, lines, top n-grams, duplicated n-grams)."""

    name = "👯 Gopher Repetition (pt)"

    def __init__(self, settings: RepetitionSettings, language: str = "por", exclusion_writer=None) -> None:
        super().__init__(exclusion_writer)
        self.settings = settings
        self.language = language

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        s, text = self.settings, doc.text
        if not text:
            return False, "empty"
        if s.dup_para_frac or s.dup_para_char_frac:  # FineWeb-2 turns both off
            paragraphs = _PARAGRAPH_BREAK.split(text.strip())
            n_dup, dup_chars = find_duplicates(paragraphs)
            if s.dup_para_frac and n_dup / len(paragraphs) > s.dup_para_frac:
                return False, "dup_para_frac"
            if s.dup_para_char_frac and dup_chars / len(text) > s.dup_para_char_frac:
                return False, "dup_para_char_frac"
        lines = _LINE_BREAKS.split(text)
        n_dup, dup_chars = find_duplicates(lines)
        if s.dup_line_frac and n_dup / len(lines) > s.dup_line_frac:
            return False, "dup_line_frac"
        if s.dup_line_char_frac and dup_chars / len(text) > s.dup_line_char_frac:
            return False, "dup_line_char_frac"

        words = word_splitter(self.language)(text)
        # An n-gram seen twice means its (n-1)-gram prefix was seen twice: once no n-gram repeats, no
        # longer one does either, so that work is skipped (`unique_from`: the smallest such n known).
        unique_from = len(words) + 1
        for n, max_frac in s.top_n_grams:
            if n >= unique_from:  # every n-gram occurs once: the first one is the "most common"
                count = int(len(words) >= n)
                chars = len(" ".join(words[:n])) * count
            else:
                chars, count = _top_ngram(words, n)
                if count < 2:
                    unique_from = n
            if count >= s.min_top_ngram_count and chars / len(text) > max_frac:
                return False, f"top_{n}_gram"
        if all(n >= unique_from for n, _ in s.dup_n_grams):
            return True
        prefix = list(accumulate(map(len, words), initial=0))
        for n, max_frac in s.dup_n_grams:
            repeated = 0 if n >= unique_from else duplicated_ngram_chars(words, n, prefix)
            if not repeated:
                unique_from = min(unique_from, n)
            if repeated / len(text) > max_frac:
                return False, f"duplicated_{n}_n_grams"
        return True


class GopherQuality(BaseFilter):
    """Gopher's quality rules (length, word length, symbols, bullets, ellipses, letters, stop words)."""

    name = "🥇 Gopher Quality (pt)"

    def __init__(self, settings: GopherQualitySettings, language: str = "por", exclusion_writer=None) -> None:
        super().__init__(exclusion_writer)
        self.settings = settings
        self.language = language
        fold = str.casefold if settings.stop_words_casefold else str
        self.stop_words = frozenset(fold(w) for w in settings.stop_words)
        self._kinds: dict[str, tuple[bool, bool]] = {}

    def _kind(self, word: str) -> tuple[bool, bool]:
        """(has a non-punctuation character, has a letter) for one word, memoized."""
        kind = self._kinds.get(word)
        if kind is None:
            if len(self._kinds) > MAX_MEMO:
                self._kinds.clear()
            kind = (any(ch not in PUNCTUATION_SET for ch in word), any(ch.isalpha() for ch in word))
            self._kinds[word] = kind
        return kind

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        s, text = self.settings, doc.text
        words = word_splitter(self.language)(text)
        n_words = len(words)
        # Alphabetic words, most of them, hold a letter and a non-punctuation character (PUNCTUATION_SET
        # has no letters): count them at C speed and classify only the others.
        letter_words = list(filter(str.isalpha, words))
        others = list(filterfalse(str.isalpha, words))
        kinds = list(map(self._kind, others))
        other_lengths = [len(w) for w, (non_symbol, _) in zip(others, kinds, strict=True) if non_symbol]
        n_non_symbol = len(letter_words) + len(other_lengths)
        if s.min_doc_words and n_non_symbol < s.min_doc_words:
            return False, "gopher_short_doc"
        if s.max_doc_words and n_non_symbol > s.max_doc_words:
            return False, "gopher_long_doc"
        if not n_non_symbol:
            return False, "gopher_short_doc"
        avg_length = (sum(map(len, letter_words)) + sum(other_lengths)) / n_non_symbol
        if s.min_avg_word_length and avg_length < s.min_avg_word_length:
            return False, "gopher_below_avg_threshold"
        if s.max_avg_word_length and avg_length > s.max_avg_word_length:
            return False, "gopher_above_avg_threshold"
        if s.max_symbol_word_ratio and text.count("#") / n_words > s.max_symbol_word_ratio:
            return False, "gopher_too_many_hashes"
        if (
            s.max_symbol_word_ratio
            and (text.count("...") + text.count("…")) / n_words > s.max_symbol_word_ratio
        ):
            return False, "gopher_too_many_ellipsis"
        lines = text.splitlines()
        stripped = [line.lstrip() for line in lines]
        bullets = sum(
            line.startswith(("•", "-")) and not (s.dialogue_dashes and line.startswith(s.dialogue_dashes))
            for line in stripped
        )
        if s.max_bullet_lines_ratio and bullets / len(lines) > s.max_bullet_lines_ratio:
            return False, "gopher_too_many_bullets"
        ellipsis_lines = sum(line.rstrip().endswith(("...", "…")) for line in lines)
        if (
            s.max_ellipsis_lines_ratio
            and ellipsis_lines >= s.min_ellipsis_lines
            and ellipsis_lines / len(lines) > s.max_ellipsis_lines_ratio
        ):
            return False, "gopher_too_many_end_ellipsis"
        if (
            s.max_non_alpha_words_ratio
            and (len(letter_words) + sum(has_alpha for _, has_alpha in kinds)) / n_words
            < s.max_non_alpha_words_ratio
        ):
            return False, "gopher_below_alpha_threshold"
        if s.min_stop_words:
            vocabulary = set(words)
            if s.stop_words_casefold:
                vocabulary = set(map(str.casefold, vocabulary))
            if len(self.stop_words & vocabulary) < s.min_stop_words:
                return False, "gopher_enough_stop_words"
        return True


class FineWebQuality(BaseFilter):
    """FineWeb's rules: punctuated lines, short lines, duplicated line characters, newlines per word."""

    name = "🍷 FineWeb Quality (pt)"

    def __init__(
        self, settings: FineWebQualitySettings, language: str = "por", exclusion_writer=None
    ) -> None:
        super().__init__(exclusion_writer)
        self.settings = settings
        self.language = language
        closers = settings.closing_marks
        self.stop_chars = tuple(sorted(TERMINAL_PUNCTUATION)) + tuple(
            p + c for p in _SENTENCE_ENDS for c in closers
        )

    def _punctuated(self, line: str) -> bool:
        return line.endswith(self.stop_chars) or bool(
            self.settings.inner_sentence_ends and _INNER_SENTENCE_END.search(line)
        )

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        s, text = self.settings, doc.text
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return False, "empty"
        ratio = sum(map(self._punctuated, lines)) / len(lines)
        if ratio < s.line_punct_thr and not (ratio == 0 and s.line_punct_exclude_zero):
            return False, "line_punct_ratio"
        ratio = sum(len(line) <= s.short_line_length for line in lines) / len(lines)
        if ratio > s.short_line_thr:
            return False, "short_line_ratio"
        if find_duplicates(lines)[1] / len(text.replace("\n", "")) > s.char_duplicates_ratio:
            return False, "char_dup_ratio"
        n_words = len(word_splitter(self.language)(text))
        if not n_words or text.count("\n") / n_words > s.new_line_ratio:
            return False, "list_ratio"
        return True


def repetition_filter(
    settings: RepetitionSettings, language: str = "por", exclusion_writer=None
) -> RepetitionFilter:
    """The Gopher repetition filter with the recipe's thresholds."""
    return RepetitionFilter(settings, language=language, exclusion_writer=exclusion_writer)


def gopher_quality_filter(
    settings: GopherQualitySettings, language: str = "por", exclusion_writer=None
) -> GopherQuality:
    """The Gopher quality filter with the recipe's thresholds and stop words."""
    return GopherQuality(settings, language=language, exclusion_writer=exclusion_writer)


def fineweb_quality_filter(
    settings: FineWebQualitySettings, language: str = "por", exclusion_writer=None
) -> FineWebQuality:
    """The FineWeb quality filter with the recipe's thresholds.

    A line also ends a sentence when terminal punctuation is followed by a closing mark (``afirmou.»``,
    ``disse."``): Portuguese quotes and guillemets close after the period.
    """
    return FineWebQuality(settings, language=language, exclusion_writer=exclusion_writer)
