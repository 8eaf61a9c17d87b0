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
"""

from __future__ import annotations

import bisect
from functools import cache

from datatrove.utils.text import split_into_words

# Bounds the cache's memory on long runs; a cleared cache only costs speed, never changes results.
MAX_CACHED_CHUNKS = 500_000


class WordSplitter:
    """Splits text into the words datatrove's tokenizer for ``language`` gives (strip, no blanks)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._nlp = None
        self._chunks: dict[str, tuple[str, ...]] = {}

    @property
    def nlp(self):
        """The spaCy pipeline behind datatrove's tokenizer, or None when it is not rule-based spaCy."""
        if self._nlp is None:
            from datatrove.utils.word_tokenizers import SpaCyTokenizer, load_word_tokenizer
            from spacy.tokenizer import Tokenizer

            tokenizer = load_word_tokenizer(self.language)
            nlp = tokenizer.tokenizer if isinstance(tokenizer, SpaCyTokenizer) else None
            # Segmenting tokenizers (ja, zh, vi) are not chunk-local: those languages use datatrove as is.
            self._nlp = nlp if nlp is not None and isinstance(nlp.tokenizer, Tokenizer) else False
        return self._nlp or None

    def __call__(self, text: str) -> list[str]:
        nlp = self.nlp
        if nlp is None:
            return split_into_words(text, self.language)
        chunks = text.split()
        cached = self._chunks
        unseen = []
        for chunk in dict.fromkeys(chunks):
            if chunk not in cached:
                if chunk.isalpha():
                    cached[chunk] = (chunk,)
                else:
                    unseen.append(chunk)
        if unseen:
            try:
                self._tokenize_chunks(nlp, unseen)
            except Exception:  # spaCy chokes on a few strings (datatrove special-cases "IS_ALPHA")
                return split_into_words(text, self.language)
        words: list[str] = []
        for chunk in chunks:
            words.extend(cached[chunk])
        if len(cached) > MAX_CACHED_CHUNKS:
            cached.clear()
            self._nlp = None  # a fresh spaCy vocabulary too: its lexemes grow with every new token
        return words

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


@cache
def word_splitter(language: str) -> WordSplitter:
    """The process-wide splitter for a language, so its chunk cache is shared by every filter."""
    return WordSplitter(language)
