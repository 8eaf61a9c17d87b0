"""Instruction shards: conversations come back exactly as rendered, masks cover only answers, text stays as is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from garimpo.core import ArtifactError, ArtifactStore, Manifest, verify
from garimpo.core.formats import (
    ANSWER_TOKEN,
    EOS_TOKEN,
    QUERY_TOKEN,
    THINK_TOKEN,
    TOKENIZER_FILE,
    read_documents,
)
from pipelines.instruct.render import render
from pipelines.instruct.schema import Conversation, Turn
from pipelines.shards import build_shards, load_shard_settings, validation_ids
from pipelines.tokenizer import publish_tokenizer
from tests.test_tokenizer import publish_corpus

TEXTS = [
    f"{subject} {verb} {place} no dia {day}, e a conversa sobre {topic} durou até a noite."
    for subject, verb, place, topic in [
        ("A professora", "chegou", "à escola", "ciência"),
        ("O médico", "voltou", "ao hospital", "saúde"),
        ("A avó de João", "viajou", "para São Luís", "açaí"),
        ("O aluno", "estudou", "na biblioteca", "história"),
        ("A equipe", "trabalhou", "no laboratório", "fotossíntese"),
    ]
    for day in range(1, 9)
]
CONVERSATIONS = [
    Conversation(
        system="Você é um assistente prestativo.",
        turns=[
            Turn("user", "Qual é a capital do Brasil?"),
            Turn("assistant", "Brasília."),
            Turn("user", "E a do Maranhão?"),
            Turn("assistant", "São Luís."),
        ],
        id="geo:1",
    ),
    Conversation(
        turns=[
            Turn("user", "Quanto é 2 + 2?"),
            Turn("assistant", "A resposta é 4.", thinking="Somando dois e dois, dá quatro."),
        ],
        id="math:1",
    ),
    Conversation(
        turns=[Turn("user", "Escreva <|answer|> literalmente."), Turn("assistant", "< |answer|> aqui.")],
        id="literal:1",
    ),
    *(
        Conversation(
            turns=[Turn("user", f"Explique {topic} em uma frase."), Turn("assistant", f"{topic} é um tema.")],
            id=f"explain:{i}",
        )
        for i, topic in enumerate(["ciência", "saúde", "história", "fotossíntese", "coração", "pão"])
    ),
]
# Lines a curated version would never hold, but a damaged file could: each must become a counted skip.
BAD_LINES = [
    json.dumps({"id": "bad:order", "turns": [{"role": "assistant", "text": "Oi"}]}),
    "{not json",
]
VAL_FRACTION = 0.3
SHARD_LIMIT = 120


def publish_instruct(store: ArtifactStore, lines: list[str]) -> Manifest:
    """An instruct version in the layout `garimpo instruct` publishes: ``conversations.jsonl``."""

    def build(folder: Path) -> None:
        (folder / "conversations.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    return store.publish("instruct", "test", build)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manifest, Manifest, Tokenizer]:
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    corpus = publish_corpus(store, TEXTS)
    tokenizer = publish_tokenizer(store, "pt", corpus, vocab_size=300)
    good = [json.dumps(c.to_dict(), ensure_ascii=False) for c in CONVERSATIONS]
    instruct = publish_instruct(store, [*good[:2], BAD_LINES[0], *good[2:], BAD_LINES[1]])
    options = {
        "settings": load_shard_settings().replace(val_fraction=VAL_FRACTION, max_tokens_per_shard=SHARD_LIMIT)
    }
    plain = build_shards(store, "plain", corpus, tokenizer, **options)
    mixed = build_shards(store, "mixed", corpus, tokenizer, instruct, **options)
    return plain, mixed, Tokenizer.from_file(str(tokenizer.path_of(TOKENIZER_FILE)))


def _masks(manifest: Manifest, split: str) -> list[list[int]]:
    """Loss masks of the instruct documents of ``split``, cut at the same index as their tokens."""
    masks = []
    for entry in sorted(
        (f for f in manifest.files if f.path.startswith(f"sft-{split}_") and f.path.endswith(".ds")),
        key=lambda f: f.path,
    ):
        loss = np.fromfile(manifest.path_of(entry.path + ".loss"), dtype="u1")
        ends = np.fromfile(manifest.path_of(entry.path + ".index"), dtype="<u8").astype(np.int64)
        assert loss.size == entry.tokens == int(ends[-1]), "one loss byte per token"
        masks.extend(part.tolist() for part in np.split(loss, ends[:-1]))
    return masks


def test_conversations_read_back_exactly_as_rendered(built: tuple[Manifest, Manifest, Tokenizer]) -> None:
    _, mixed, tok = built
    val = validation_ids(iter(c.id for c in CONVERSATIONS), VAL_FRACTION)
    assert 0 < len(val) < len(CONVERSATIONS)
    for split in ("train", "val"):
        expected = [render(c, tok) for c in CONVERSATIONS if (c.id in val) == (split == "val")]
        ids = list(read_documents(mixed, split, source="instruct"))
        assert list(zip(ids, _masks(mixed, split), strict=True)) == [(i, m) for i, m in expected]
        assert all(doc.count(tok.token_to_id(EOS_TOKEN)) == 1 and doc[-1] == tok.token_to_id(EOS_TOKEN) for doc in ids)


def test_loss_mask_is_one_only_on_answers(built: tuple[Manifest, Manifest, Tokenizer]) -> None:
    _, mixed, tok = built
    query, answer, think, eot = (tok.token_to_id(t) for t in (QUERY_TOKEN, ANSWER_TOKEN, THINK_TOKEN, EOS_TOKEN))
    docs = [d for split in ("train", "val") for d in read_documents(mixed, split, source="instruct")]
    masks = [m for split in ("train", "val") for m in _masks(mixed, split)]
    assert len(docs) == len(CONVERSATIONS)
    for ids, mask in zip(docs, masks, strict=True):
        # The documented rule, read off the control tokens: everything after <|answer|> up to the next
        # <|query|> is the model's answer (thinking included), plus the closing <|endoftext|>.
        in_answer = False
        for token, flag in zip(ids, mask, strict=True):
            if token in (query, answer):
                in_answer = token == answer
                assert flag == 0
            else:
                assert flag == int(in_answer or token == eot)
    math_ids, math_mask = next(
        (i, m) for i, m in zip(docs, masks, strict=True) if "Quanto é 2" in tok.decode(i)
    )
    learned = [i for i, m in zip(math_ids, math_mask, strict=True) if m]
    assert learned[0] == think and learned.count(think) == 2
    assert tok.decode(learned) == "Somando dois e dois, dá quatro.A resposta é 4."


def test_manifest_counts_sources_and_skips(built: tuple[Manifest, Manifest, Tokenizer]) -> None:
    _, mixed, _ = built
    assert verify(mixed) == []
    assert mixed.parents["instruct"].startswith("instruct/test/")
    shard_files = [f for f in mixed.files if ".ds" in f.path]
    assert all(
        f.extra["source"] == ("instruct" if f.path.startswith("sft-") else "text") for f in shard_files
    )
    sft = [f for f in shard_files if f.path.endswith(".ds") and f.path.startswith("sft-")]
    assert len(sft) >= 3, "the shard limit forces several instruction shards"
    assert all(mixed.file(f.path + ".loss").extra["split"] == f.extra["split"] for f in sft)
    assert not any(f.path.endswith(".loss") and not f.path.startswith("sft-") for f in mixed.files)
    sources, splits = mixed.extra["sources"], mixed.extra["splits"]
    for split in ("train", "val"):
        for key in ("tokens", "documents", "files"):
            assert splits[split][key] == sources["text"][split][key] + sources["instruct"][split][key]
        entries = [f for f in sft if f.extra["split"] == split]
        assert sources["instruct"][split]["tokens"] == sum(f.tokens for f in entries)
    assert sum(sources["instruct"][s]["documents"] for s in ("train", "val")) == len(CONVERSATIONS)
    skips = mixed.stats["instruct"]
    assert skips["in"] == len(CONVERSATIONS) + len(BAD_LINES) == skips["kept"] + skips["rejected"]
    assert skips["reasons"] == {"malformed_record": 2}
    assert {s["id"] for s in skips["skipped"]} == {"bad:order", f"line:{len(CONVERSATIONS) + 2}"}


def test_text_shards_do_not_change_with_instruction_data(built: tuple[Manifest, Manifest, Tokenizer]) -> None:
    plain, mixed, _ = built
    text_files = [(f.path, f.sha256, f.tokens) for f in mixed.files if f.extra.get("source") == "text"]
    assert text_files == [(f.path, f.sha256, f.tokens) for f in plain.files if f.path != TOKENIZER_FILE]
    assert not any(f.path.startswith("sft-") for f in plain.files)
    assert set(plain.parents) == {"corpus", "tokenizer"} and "instruct" not in plain.stats
    assert plain.extra["sources"] == {"text": plain.extra["splits"]}
    assert mixed.extra["sources"]["text"] == plain.extra["splits"]
    for split in ("train", "val"):
        assert list(read_documents(mixed, split, source="text")) == list(read_documents(plain, split))


def test_a_corpus_is_refused_as_instruction_data(
    built: tuple[Manifest, Manifest, Tokenizer], tmp_path: Path
) -> None:
    store = ArtifactStore(tmp_path)
    corpus = publish_corpus(store, TEXTS[:4])
    tokenizer = publish_tokenizer(store, "pt", corpus, vocab_size=280)
    with pytest.raises(ArtifactError, match="expected an instruct artifact"):
        build_shards(store, "wrong", corpus, tokenizer, corpus)
