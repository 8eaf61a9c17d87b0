"""Tokenizer training and publishing: fixed special ids, uint16 bound, exact round trips, determinism."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from transformers import PreTrainedTokenizerFast

from garimpo.core import ArtifactStore, Manifest, verify
from garimpo.core.formats import SPECIAL_TOKENS, TOKENIZER_FILE
from pipelines.sample_corpus import write_sample_corpus
from pipelines.tokenizer import load_tokenizer, publish_tokenizer, train_tokenizer

ACCENTED = "Ação, coração e pão: a avó de João comeu açaí às 7h30 em São Luís — é verdade! Não, não é."


def sample_texts(folder: Path) -> list[str]:
    """The parseable, non-empty web and blog texts of the generated sample corpus."""
    write_sample_corpus(folder, seed=0)
    texts = []
    for name in ("web.jsonl", "blog.jsonl"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            try:
                text = json.loads(line)["text"]
            except json.JSONDecodeError:
                continue
            if text:
                texts.append(text)
    return texts


def publish_corpus(store: ArtifactStore, texts: list[str], n_files: int = 2) -> Manifest:
    """A corpus version in the documented layout: ``documents/*.parquet`` with id/text/source/metadata."""

    def build(folder: Path) -> None:
        (folder / "documents").mkdir()
        per_file = -(-len(texts) // n_files)
        for k in range(n_files):
            chunk = texts[k * per_file : (k + 1) * per_file]
            table = pa.table(
                {
                    "id": [f"doc-{k * per_file + i:05d}" for i in range(len(chunk))],
                    "text": chunk,
                    "source": ["test"] * len(chunk),
                    "metadata": ["{}"] * len(chunk),
                }
            )
            pq.write_table(table, folder / "documents" / f"{k:05d}.parquet")

    return store.publish("corpus", "test", build)


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return sample_texts(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str]
) -> tuple[ArtifactStore, Manifest, Manifest]:
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    corpus = publish_corpus(store, texts)
    return store, corpus, publish_tokenizer(store, "pt", corpus, vocab_size=1200)


def test_special_tokens_have_fixed_ids(published: tuple[ArtifactStore, Manifest, Manifest]) -> None:
    _, corpus, manifest = published
    tok = load_tokenizer(manifest.path_of(TOKENIZER_FILE))
    assert len(SPECIAL_TOKENS) == 16 and SPECIAL_TOKENS[0] == "<|endoftext|>"
    assert SPECIAL_TOKENS[5] == "<|context|>" and SPECIAL_TOKENS[-1] == "<|reserved_9|>"
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(16))
    assert manifest.extra["special_tokens"] == {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    assert manifest.extra["vocab_size"] == tok.get_vocab_size() <= 1200
    assert manifest.kind == "tokenizer" and manifest.parents == {"corpus": corpus.ref}
    assert verify(manifest) == []


@pytest.mark.parametrize("vocab_size", [65_536, 100_000, 100])
def test_vocab_outside_uint16_or_too_small_is_refused(vocab_size: int) -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(["texto de exemplo"], vocab_size=vocab_size)


def test_round_trip_keeps_accents_and_normalizes_to_nfc(
    published: tuple[ArtifactStore, Manifest, Manifest],
) -> None:
    tok = load_tokenizer(published[2].path_of(TOKENIZER_FILE))
    decomposed = unicodedata.normalize("NFD", ACCENTED)
    assert decomposed != ACCENTED
    for text in (ACCENTED, decomposed, "Preço: R$ 1.234,56 (2024) 😀 ½ ºC\ttab\n\nfim"):
        ids = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids) == unicodedata.normalize("NFC", text)
    assert tok.encode(ACCENTED).ids == tok.encode(decomposed).ids


def test_digits_are_split_one_by_one(published: tuple[ArtifactStore, Manifest, Manifest]) -> None:
    tok = load_tokenizer(published[2].path_of(TOKENIZER_FILE))
    tokens = tok.encode("em 2024", add_special_tokens=False).tokens
    assert tokens[-4:] == ["2", "0", "2", "4"]


def test_literal_special_string_in_text_is_not_a_control_token(
    published: tuple[ArtifactStore, Manifest, Manifest],
) -> None:
    tok = load_tokenizer(published[2].path_of(TOKENIZER_FILE))
    text = "O marcador <|endoftext|> e o <|system|> aparecem no texto."
    ids = tok.encode(text, add_special_tokens=False).ids
    assert not set(ids) & set(range(len(SPECIAL_TOKENS)))
    assert tok.decode(ids) == text


def test_loads_in_transformers_with_identical_ids(
    published: tuple[ArtifactStore, Manifest, Manifest],
) -> None:
    path = published[2].path_of(TOKENIZER_FILE)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(path))
    tok = load_tokenizer(path)
    ids = hf.encode(ACCENTED, add_special_tokens=False)
    assert ids == tok.encode(ACCENTED, add_special_tokens=False).ids
    assert hf.decode(ids, clean_up_tokenization_spaces=False) == ACCENTED
    assert hf.convert_tokens_to_ids("<|answer|>") == 3
    assert len(hf) == published[2].extra["vocab_size"]


def test_same_corpus_gives_same_tokenizer_bytes(
    tmp_path: Path, texts: list[str], published: tuple[ArtifactStore, Manifest, Manifest]
) -> None:
    store = ArtifactStore(tmp_path)
    again = publish_tokenizer(store, "again", publish_corpus(store, texts), vocab_size=1200)
    first = published[2]
    assert again.path_of(TOKENIZER_FILE).read_bytes() == first.path_of(TOKENIZER_FILE).read_bytes()
    assert again.version == first.version
    smaller = publish_tokenizer(store, "smaller", publish_corpus(store, texts[:100]), vocab_size=1200)
    assert smaller.version != first.version


def test_training_streams_a_one_shot_iterator(texts: list[str]) -> None:
    """Training takes a generator (a corpus streamed from parquet) and reads it exactly once."""
    pulled = 0

    def stream():
        nonlocal pulled
        for i in range(20):
            for text in texts:
                pulled += 1
                yield f"{text} ({i})"

    tok = train_tokenizer(stream(), vocab_size=400)
    assert pulled == 20 * len(texts)
    assert tok.get_vocab_size() == 400
