"""Word splitting for the quality filters: datatrove's spaCy words, produced several times faster.

datatrove's word tokenizer for ``por`` (a blank spaCy "pt" pipeline) runs the full spaCy pipeline
inside a ``memory_zone`` on every document, so every token's lexeme is rebuilt from scratch each time:
on our data that is ~90% of the Gopher and FineWeb filters' time. spaCy's rule-based tokenizer splits
text on whitespace first and then tokenizes each whitespace-free chunk on its own (prefixes,
suffixes, infixes, special cases, URL matches are all chunk-local), so a document's tokens are the
concatenation of its chunks' tokens. `WordSplitter` therefore caches chunk -> tokens, sends only
unseen chunks to spaCy (all of them in one call per document, outside a ``memory_zone`` so spaCy keeps
its lexemes; both are dropped together past `MAX_CACHED_CHUNKS`), and returns exactly the word list
datatrove's ``split_into_words`` returns (checked on every real document in the tests). Chunks made
only of letters never split (no pt special case does), so they skip spaCy altogether.

Most other chunks are a word with punctuation stuck to it ("país,", "«Sim»,", "(hoje)."), and spaCy
peels such punctuation off one character at a time with its prefix and suffix rules. `WordSplitter`
does the same for the characters those rules always split (`OPENERS`, `CLOSERS`) and for a final
period (where it asks spaCy's own suffix rule), skipping spaCy for ~60% of the unseen chunks; chunks
that touch a special case ("Sr.", ":)") or hold digits, hyphens or other marks still go to spaCy. When
the pipeline loads, every affix character is checked against spaCy on sample words, and the shortcut
is off for a language where one disagrees.

spaCy is imported without torch (`import_spacy`): thinc, under spaCy, imports torch whenever it is
installed (garimpo's trainer installs it), which costs every curation worker ~2 s and ~230 MB of
resident memory for a tokenizer that never touches it.
"""

from __future__ import annotations

import bisect
import re
import sys
from functools import cache
from itertools import chain

from datatrove.utils.text import split_into_words

# Bounds the cache's memory on long runs; a cleared cache only costs speed, never changes results.
MAX_CACHED_CHUNKS = 500_000

# Characters spaCy's base punctuation rules (pt uses them) split off the start / end of a word whatever
# its letters: single-character prefix and suffix patterns without context.
OPENERS = '([{"“«¿¡'
CLOSERS = ')]}";:,!?”»'
# A word (letters, maybe hyphenated: "quarta-feira") or a number ("2023", "1.234,5"), with affix
# characters around it.
_AFFIXED_WORD = re.compile(
    f"([{re.escape(OPENERS)}]*)([^\\W\\d_]+(?:-[^\\W\\d_]+)*|[0-9]+(?:[.,][0-9]+)*)([{re.escape(CLOSERS)}]*\\.?)"
)
# Words the affix characters are checked on when the pipeline loads.
_PROBE_WORDS = (
    *("a", "A", "casa", "Casa", "CASA", "EUA", "ação", "AÇÃO", "É", "ª", "º", "xyz", "Ωμέγα", "ДОМ"),
    *("quarta-feira", "Guiné-Bissau", "pôr-do-sol", "X-Men"),
    *("0", "7", "2023", "1.000", "3,5", "1.234.567,89"),
)


class WordSplitter:
    """Splits text into the words datatrove's tokenizer for ``language`` gives (strip, no blanks)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._nlp = None
        self._chunks: dict[str, tuple[str, ...]] = {}
        self._rules: frozenset[str] = frozenset()
        self._affixes_checked = False
        self._last: tuple[str | None, tuple[str, ...]] = (None, ())

    @property
    def nlp(self):
        """A spaCy pipeline tokenizing as datatrove's does, or None when that is not rule-based spaCy.

        Our own blank pipeline of the same language, not datatrove's instance, with no lexical
        attribute getters: spaCy computes ~20 attributes (shape, like_num, ...) for every new token,
        which the word texts never use, and which were 40% of the tokenizer's time on new text.
        """
        if self._nlp is None:
            spacy = import_spacy()
            from datatrove.utils.word_tokenizers import SpaCyTokenizer, load_word_tokenizer
            from spacy.tokenizer import Tokenizer

            tokenizer = load_word_tokenizer(self.language)
            nlp = None
            # Segmenting tokenizers (ja, zh, vi) are not chunk-local: those languages use datatrove as is.
            if isinstance(tokenizer, SpaCyTokenizer) and tokenizer.config is None:
                nlp = spacy.blank(tokenizer.language)
                nlp.vocab.lex_attr_getters = {}
            self._nlp = nlp if nlp is not None and isinstance(nlp.tokenizer, Tokenizer) else False
            if self._nlp:
                self._rules = frozenset(nlp.tokenizer.rules)
                # A token_match would be consulted at every peeling step: leave such languages to spaCy.
                self._affixes_checked = nlp.tokenizer.token_match is None and self._affixes_agree_with_spacy(
                    nlp
                )
        return self._nlp or None

    def _affixes_agree_with_spacy(self, nlp) -> bool:
        """True when `_affixed_word` gives spaCy's tokens for every affix character on the probe words."""
        for word in _PROBE_WORDS:
            for chunk in (
                *(c + word for c in OPENERS),
                *(word + c for c in CLOSERS),
                word + ".",
                *(word + c + "." for c in CLOSERS),
            ):
                fast = self._affixed_word(nlp, chunk)
                if fast is not None and list(fast) != [t.text for t in nlp.tokenizer(chunk)]:
                    return False
        return True

    def _affixed_word(self, nlp, chunk: str) -> tuple[str, ...] | None:
        """spaCy's tokens of a word or number with `OPENERS` before and `CLOSERS` (then maybe ".") after
        it; None for any other chunk or one where a special case could apply.

        Neither a word of letters nor a number ("1.000", "3,5") holds anything spaCy's infix, prefix or
        suffix rules split, so the word stays one token and each affix character becomes one. A
        hyphenated word is matched whole by spaCy's first infix rule (``\\w+-\\w+(-\\w+)*``), which
        starts at the word's start and so splits nothing.
        """
        match = _AFFIXED_WORD.fullmatch(chunk)
        if match is None:
            return None
        opening, word, closing = match.groups()
        if not (word.replace("-", "").isalpha() or word[0] in "0123456789"):
            return None  # letters and marks such as "²" that are neither letters nor digits
        rules = self._rules
        # spaCy checks every string it peels down to against its special cases, and then looks for
        # special cases among runs of tokens: any hit is left to spaCy.
        if rules and (
            any(
                opening[i:] + word + closing[:j] in rules
                for i in range(len(opening) + 1)
                for j in range(len(closing) + 1)
            )
            or any(
                affixes[i:j] in rules
                for affixes in (opening, closing)
                for i in range(len(affixes))
                for j in range(i + 1, len(affixes) + 1)
            )
        ):
            return None
        if closing.endswith("."):
            # A period splits off only after some characters ("país." but not "A."): spaCy's own suffix
            # rule decides, on what it sees at that point (the chunk less one opener), whose lookbehinds
            # reach at most two characters back.
            seen = chunk[1:] if opening else chunk
            suffix = nlp.tokenizer.suffix_search(seen[-3:])
            if suffix is None or suffix.group() != ".":
                return None
        return (*opening, word, *closing)

    def __call__(self, text: str) -> list[str]:
        # The three quality filters ask for the same document's words in turn: the last answer is kept.
        if text == self._last[0]:
            return list(self._last[1])
        words = self._split(text)
        self._last = (text, tuple(words))
        return words

    def _split(self, text: str) -> list[str]:
        nlp = self.nlp
        if nlp is None:
            return split_into_words(text, self.language)
        chunks = text.split()
        cached = self._chunks
        try:  # warm cache: every chunk known
            words = list(chain.from_iterable(map(cached.__getitem__, chunks)))
        except KeyError:
            spacy_chunks = []
            for chunk in sorted(set(chunks).difference(cached)):
                if chunk.isalpha():
                    cached[chunk] = (chunk,)
                    continue
                words = self._affixed_word(nlp, chunk) if self._affixes_checked else None
                if words is None:
                    spacy_chunks.append(chunk)
                else:
                    cached[chunk] = words
            if spacy_chunks:
                try:
                    self._tokenize_chunks(nlp, spacy_chunks)
                except Exception:  # spaCy chokes on a few strings (datatrove special-cases "IS_ALPHA")
                    return split_into_words(text, self.language)
            words = list(chain.from_iterable(map(cached.__getitem__, chunks)))
        if len(cached) > MAX_CACHED_CHUNKS:
            cached.clear()
            self._nlp = None  # a fresh spaCy vocabulary too: its lexemes grow with every new token
        return words

    def clear(self) -> None:
        """Forget every cached chunk (as a fresh process would start)."""
        self._chunks.clear()
        self._last = (None, ())

    def _tokenize_chunks(self, nlp, chunks: list[str]) -> None:
        starts, pos = [], 0
        for chunk in chunks:
            starts.append(pos)
            pos += len(chunk) + 1
        parts: list[list[str]] = [[] for _ in chunks]
        joined = " ".join(chunks)
        for token in nlp.tokenizer(joined):
            word = token.text.strip()
            if word:
                parts[bisect.bisect_right(starts, token.idx) - 1].append(word)
        for chunk, words in zip(chunks, parts, strict=True):
            self._chunks[chunk] = tuple(words)


def import_spacy():
    """spaCy, imported (when it is not yet) with torch hidden from thinc, so thinc runs without it.

    Only the import is affected: torch stays importable afterwards, and a process that imported torch
    before keeps it. spaCy's rule-based tokenizers, the only part curation uses, never need torch.
    """
    if "spacy" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes "import torch" raise ImportError
        try:
            import spacy
        finally:
            del sys.modules["torch"]
    import spacy

    return spacy


@cache
def word_splitter(language: str) -> WordSplitter:
    """The process-wide splitter for a language, so its chunk cache is shared by every filter."""
    return WordSplitter(language)
