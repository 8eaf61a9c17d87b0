"""Quality stages: datatrove's Gopher repetition, Gopher quality and FineWeb quality filters, tuned for pt.

The filters are datatrove's own classes; only their arguments change. Plain datatrove defaults are
English (stop words "the, be, to, ...", English word tokenizer) and drop nearly every Portuguese
document, so each filter here takes the recipe's Portuguese thresholds (FineWeb-2 ``por_Latn`` values,
cited in ``configs/recipes/pt.toml``) and the spaCy "pt" word tokenizer (datatrove language ``por``).

One behaviour is changed on purpose, in `RepetitionFilter`: datatrove scores a document's most common
n-gram even when it occurs once, so any document under ~50 words fails the top-4-gram rule by
construction. Gopher's rule is about *repetition*, so a top n-gram only counts when it occurs at least
``min_top_ngram_count`` times. Rejection reasons are datatrove's (``top_4_gram``, ``gopher_short_doc``,
``line_punct_ratio``, ...).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from datatrove.data import Document
from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.filters.gopher_repetition_filter import get_n_grams
from datatrove.utils.text import TERMINAL_PUNCTUATION, split_into_words

from pipelines.recipe import FineWebQualitySettings, GopherQualitySettings, RepetitionSettings

_SENTENCE_ENDS = (".", "!", "?", "…")


class RepetitionFilter(GopherRepetitionFilter):
    """datatrove's GopherRepetitionFilter whose top-n-gram rules only count n-grams that repeat."""

    name = "👯 Gopher Repetition (pt)"

    def __init__(self, settings: RepetitionSettings, language: str = "por", exclusion_writer=None) -> None:
        args = dataclasses.asdict(settings)
        self.min_top_ngram_count = args.pop("min_top_ngram_count")
        self.repeated_top_n_grams = tuple(tuple(pair) for pair in args.pop("top_n_grams"))
        # datatrove's own top-n-gram pass is switched off; `filter` below applies the repeated version.
        super().__init__(top_n_grams=(), exclusion_writer=exclusion_writer, language=language, **args)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        verdict = super().filter(doc)
        if verdict is not True:
            return verdict
        words = split_into_words(doc.text, self.language)
        for n, max_frac in self.repeated_top_n_grams:
            n_grams = get_n_grams(words, n)
            if not n_grams:
                continue
            top, count = Counter(n_grams).most_common(1)[0]
            if count >= self.min_top_ngram_count and len(top) * count / len(doc.text) > max_frac:
                return False, f"top_{n}_gram"
        return True


def repetition_filter(
    settings: RepetitionSettings, language: str = "por", exclusion_writer=None
) -> RepetitionFilter:
    """The Gopher repetition filter with the recipe's thresholds."""
    return RepetitionFilter(settings, language=language, exclusion_writer=exclusion_writer)


def gopher_quality_filter(
    settings: GopherQualitySettings, language: str = "por", exclusion_writer=None
) -> GopherQualityFilter:
    """datatrove's GopherQualityFilter with the recipe's thresholds and stop words."""
    args = dataclasses.asdict(settings)
    args["stop_words"] = list(args["stop_words"])
    return GopherQualityFilter(exclusion_writer=exclusion_writer, language=language, **args)


def fineweb_quality_filter(
    settings: FineWebQualitySettings, language: str = "por", exclusion_writer=None
) -> FineWebQualityFilter:
    """datatrove's FineWebQualityFilter with the recipe's thresholds.

    A line also counts as ending a sentence when terminal punctuation is followed by a closing mark
    (``afirmou.»``, ``disse."``): Portuguese quotes and guillemets close after the period, and datatrove's
    plain ``endswith(TERMINAL_PUNCTUATION)`` test would call such lines unpunctuated.
    """
    args = dataclasses.asdict(settings)
    closers = args.pop("closing_marks")
    stop_chars = tuple(sorted(TERMINAL_PUNCTUATION)) + tuple(p + c for p in _SENTENCE_ENDS for c in closers)
    return FineWebQualityFilter(
        exclusion_writer=exclusion_writer, language=language, stop_chars=stop_chars, **args
    )
