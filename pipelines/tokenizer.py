"""Byte-level BPE tokenizer training for Portuguese, published as a versioned artifact.

Choices and why:

* **Byte-level BPE** (GPT-2 style) never meets an unknown character: accents, emoji and mojibake
  all encode, and decoding gives back the exact text.
* **NFC normalizer**: "é" can arrive as one code point or as "e" + combining accent; without NFC the
  two spellings waste vocabulary and split words differently. Decoding returns the NFC form.
* **Digits split one by one** (as Llama and PaLM do), so numbers are not tokenized by frequency
  accident and arithmetic sees a consistent representation.
* **Reserved special tokens at fixed ids 0..15** so chat and instruction formats can be added later
  without retraining; ids fit uint16 (vocab <= 65 535) because shards store uint16.

Documents are encoded with special tokens *escaped*: a literal ``<|endoftext|>`` typed inside a web
page becomes ordinary bytes, never a control id. Only the shard writer inserts control tokens.

Training streams: ``train_from_iterator`` pulls the texts in batches and keeps only pre-token counts,
so memory follows the vocabulary of the corpus, not its size. ``TokenCache`` remembers the ids of every
document text a tokenizer has encoded (SQLite, keyed by the text's sha256), so rebuilding shards after
a corpus changed re-encodes only the documents whose text changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from garimpo.core import ArtifactStore, Manifest, verify_or_raise
from garimpo.core.formats import MAX_TOKEN_ID, SPECIAL_TOKENS, TOKEN_DTYPE, TOKENIZER_FILE
from pipelines.corpus_files import corpus_texts

MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + 256  # the special tokens and the 256 byte symbols


def new_tokenizer() -> Tokenizer:
    """An untrained byte-level BPE pipeline: NFC, single digits, GPT-2 byte mapping."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def check_vocab_size(vocab_size: int) -> None:
    """Refuse a vocabulary that cannot hold the special tokens and the bytes, or whose ids overflow uint16."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise ValueError(f"vocab_size must be an integer, got {vocab_size!r}")
    if not MIN_VOCAB_SIZE <= vocab_size <= MAX_TOKEN_ID:
        raise ValueError(
            f"vocab_size must be between {MIN_VOCAB_SIZE} and {MAX_TOKEN_ID} "
            f"(ids are stored as uint16), got {vocab_size}"
        )


def train_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Train on a stream of texts (consumed once, in batches) and return the tokenizer.

    Memory is bounded by the pre-token counts, not by the corpus size. The special tokens take ids
    0..15 in ``SPECIAL_TOKENS`` order; the 256 byte symbols always enter the vocabulary. The default
    ``vocab_size`` lives in the shard settings (``garimpo/configs/shards/default.toml``).
    """
    check_vocab_size(vocab_size)
    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    assert tok.get_vocab_size() <= MAX_TOKEN_ID, "token ids must fit uint16"
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(token) == expected_id, f"{token} must have id {expected_id}"
    return tok


def document_encoder(tok: Tokenizer) -> Tokenizer:
    """The tokenizer set up for document text: special-token strings are encoded as plain text."""
    tok.encode_special_tokens = True
    return tok


def load_tokenizer(path: Path) -> Tokenizer:
    """Load ``tokenizer.json`` ready to encode documents (special strings escaped)."""
    return document_encoder(Tokenizer.from_file(str(path)))


def special_token_ids(tok: Tokenizer) -> dict[str, int]:
    return {token: tok.token_to_id(token) for token in SPECIAL_TOKENS}


class TokenCache:
    """Token ids (without EOS) of document texts encoded by one tokenizer, keyed by sha256 of the text.

    One SQLite file per tokenizer file checksum (and cache format), so ids from another tokenizer can
    never be returned. A cache is only ever an optimisation: ids read from it equal a fresh encoding.
    """

    FORMAT = 1

    def __init__(self, folder: Path, tokenizer_sha256: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"v{self.FORMAT}-{tokenizer_sha256}.sqlite"
        self._db = sqlite3.connect(self.path, timeout=600)
        # WAL + NORMAL: a crash may lose the last batches (they are re-encoded next time), never corrupt.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ids (key BLOB PRIMARY KEY, ids BLOB NOT NULL) WITHOUT ROWID"
        )

    def get_many(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 900):  # stay under SQLite's bound-parameter limit
            chunk = keys[start : start + 900]
            query = f"SELECT key, ids FROM ids WHERE key IN ({','.join('?' * len(chunk))})"
            for key, blob in self._db.execute(query, chunk):
                found[key] = np.frombuffer(blob, dtype=TOKEN_DTYPE)
        return found

    def put_many(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO ids (key, ids) VALUES (?, ?)", ((k, v.tobytes()) for k, v in items)
            )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM ids").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def publish_tokenizer(store: ArtifactStore, name: str, corpus: Manifest, vocab_size: int) -> Manifest:
    """Train on a corpus version's documents and publish ``tokenizer/<name>/<version>``."""
    verify_or_raise(corpus)
    min_frequency = 2
    tok = train_tokenizer(corpus_texts(corpus), vocab_size=vocab_size, min_frequency=min_frequency)
    text = tok.to_str(pretty=True)
    config = {
        "model": "byte-level BPE",
        "vocab_size": vocab_size,
        "min_frequency": min_frequency,
        "normalizer": "NFC",
        "digits": "individual",
        "special_tokens": list(SPECIAL_TOKENS),
    }

    def build(folder: Path) -> None:
        (folder / TOKENIZER_FILE).write_text(text, encoding="utf-8")

    return store.publish(
        "tokenizer",
        name,
        build,
        config=config,
        parents={"corpus": corpus.ref},
        extra={"vocab_size": tok.get_vocab_size(), "special_tokens": special_token_ids(tok)},
    )
