"""Chat template round trips: render → ids + mask → parse back to the same turns."""

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from garimpo.core.formats import SPECIAL_TOKENS
from pipelines.instruct.render import parse_rendered, render, special_ids
from pipelines.instruct.schema import Conversation, Turn

CORPUS = [
    "Qual é a capital do Brasil? A capital do Brasil é Brasília.",
    "Explique a fotossíntese em uma frase. As plantas transformam luz em energia química.",
    "Vamos pensar passo a passo: 2 + 2 = 4, então a resposta é 4.",
    "What is the answer? The answer is 42. Não sei, ação, coração, você.",
]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    return tok


def test_special_tokens_have_reserved_ids(tokenizer):
    assert special_ids(tokenizer) == {token: i for i, token in enumerate(SPECIAL_TOKENS)}


def _round_trip(conv, tokenizer):
    ids, mask = render(conv, tokenizer)
    assert len(ids) == len(mask)
    back = parse_rendered(ids, tokenizer)
    assert back.system == conv.system
    assert back.turns == conv.turns
    return ids, mask


def test_round_trip_multi_turn_with_system(tokenizer):
    conv = Conversation(
        system="Você é um assistente prestativo.",
        turns=[
            Turn("user", "Qual é a capital do Brasil?"),
            Turn("assistant", "Brasília."),
            Turn("user", "E da França?\n\nResponda curto."),
            Turn("assistant", "Paris."),
        ],
    )
    ids, mask = _round_trip(conv, tokenizer)
    sid = special_ids(tokenizer)
    assert ids[0] == sid["<|system|>"] and ids[-1] == sid["<|endoftext|>"]
    assert mask[0] == 0 and mask[-1] == 1
    # Every <|query|> and <|answer|> marker is prompt side.
    assert all(m == 0 for i, m in zip(ids, mask, strict=True) if i in (sid["<|query|>"], sid["<|answer|>"]))
    assert ids.count(sid["<|query|>"]) == 2 and ids.count(sid["<|answer|>"]) == 2


def test_round_trip_thinking_and_mask(tokenizer):
    conv = Conversation(
        turns=[Turn("user", "Quanto é 2 + 2?"), Turn("assistant", "4", thinking="2 + 2 = 4.")]
    )
    ids, mask = _round_trip(conv, tokenizer)
    sid = special_ids(tokenizer)
    answer_at = ids.index(sid["<|answer|>"])
    # Prompt side (query marker, user text, answer marker) is never trained on.
    assert set(mask[: answer_at + 1]) == {0}
    # Both think delimiters, the thinking, the answer and the final EOS are trained on.
    assert set(mask[answer_at + 1 :]) == {1}
    assert ids[answer_at + 1] == sid["<|think|>"]
    assert ids.count(sid["<|think|>"]) == 2


def test_mask_covers_exactly_the_answer_tokens(tokenizer):
    conv = Conversation(
        turns=[Turn("user", "Explique a fotossíntese."), Turn("assistant", "As plantas usam luz.")]
    )
    ids, mask = render(conv, tokenizer)
    answer_ids = tokenizer.encode("As plantas usam luz.", add_special_tokens=False).ids
    assert [i for i, m in zip(ids, mask, strict=True) if m] == [
        *answer_ids,
        special_ids(tokenizer)["<|endoftext|>"],
    ]


def test_literal_special_token_in_user_text_stays_text(tokenizer):
    text = "Repita: <|endoftext|> <|answer|> <|reserved_3|> fim"
    conv = Conversation(turns=[Turn("user", text), Turn("assistant", "Não.")])
    ids, _ = _round_trip(conv, tokenizer)
    sid = special_ids(tokenizer)
    assert ids.count(sid["<|endoftext|>"]) == 1
    assert ids.count(sid["<|answer|>"]) == 1
    assert sid["<|reserved_3|>"] not in ids
    # The tokenizer's own setting is restored after rendering.
    assert tokenizer.encode("<|endoftext|>").ids == [sid["<|endoftext|>"]]


def test_missing_special_tokens_are_refused():
    tok = Tokenizer(models.BPE())
    tok.add_special_tokens(["<|endoftext|>"])
    with pytest.raises(ValueError, match="reserved special tokens"):
        render(Conversation(turns=[Turn("user", "a"), Turn("assistant", "b")]), tok)


def test_parse_rejects_truncated_ids(tokenizer):
    conv = Conversation(turns=[Turn("user", "Oi"), Turn("assistant", "Olá", thinking="cumprimentar")])
    ids, _ = render(conv, tokenizer)
    with pytest.raises(ValueError):
        parse_rendered(ids[:-1], tokenizer)
