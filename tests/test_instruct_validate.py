"""Validation rules on small in-memory conversations, and a small end-to-end curation run."""

import json

import pytest

from pipelines.instruct import validate
from pipelines.instruct.curate import InstructRecipe, curate_instructions, load_instruct_recipe
from pipelines.instruct.schema import Conversation, Turn
from pipelines.instruct.validator import Validator

GOOD_Q = "Explique, em poucas palavras, por que o céu é azul durante o dia."
GOOD_A = "A luz do Sol se espalha na atmosfera, e o azul se espalha mais do que as outras cores."


def conv(user: str = GOOD_Q, answer: str = GOOD_A, **kw) -> Conversation:
    thinking = kw.pop("thinking", None)
    return Conversation(turns=[Turn("user", user), Turn("assistant", answer, thinking)], **kw)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(languages=["pt"])


def reasons(validator: Validator, c: Conversation) -> list[str]:
    return [name for name, _ in validator.check(c)]


def test_good_portuguese_record_passes(validator):
    assert reasons(validator, conv()) == []


@pytest.mark.parametrize(
    ("rule", "bad"),
    [
        ("empty_answer", conv(answer="   \n")),
        (
            "truncated",
            conv(answer="A luz do Sol se espalha na atmosfera e o azul se espalha mais do que o vermelho e"),
        ),
        ("truncated", conv(answer="Use este código:\n```python\nprint('oi')\n")),
        ("truncated", conv(answer="A luz do Sol (que é branca se espalha na atmosfera e fica azul.")),
        ("placeholder", conv(user=GOOD_Q + "\n\n<noinput>")),
        ("placeholder", conv(user=GOOD_Q + "\n\nNo input")),
        ("placeholder", conv(answer="<No Output>")),
        ("placeholder", conv(answer="Eu sou o {{name}}, criado por {{author}}.")),
        ("placeholder", conv(answer="Prezado [insert name], obrigado pela mensagem enviada.")),
        ("unseen_content", conv(user="Resuma o artigo.\n\nhttps://exemplo.com.br/noticia/123")),
        ("unseen_content", conv(user="Resuma o texto abaixo.")),
        ("unseen_content", conv(user="Summarize the following article.")),
        ("unseen_content", conv(user="Descreva a foto.\n\n<image attached>")),
        ("mojibake", conv(answer="A informaÃ§Ã£o chegou tarde e a situaÃ§Ã£o piorou muito.")),
        ("repeats_question", conv(answer=GOOD_Q)),
        ("refusal", conv(answer="Como um modelo de linguagem, não tenho opiniões sobre isso, infelizmente.")),
        ("refusal", conv(answer="As an AI language model, I cannot browse the internet.")),
        ("thinking_tags", conv(answer="<think>pensando sem fechar. " + GOOD_A)),
        ("merged_instructions", conv(answer=GOOD_A + "\n##\n8. Instruction: Write a poem.\n8. Output: x")),
        (
            "language",
            conv(user="Why is the sky blue during the day?", answer="Because air scatters blue light more."),
        ),
    ],
)
def test_each_rule_catches_its_defect(validator, rule, bad):
    assert rule in reasons(validator, bad)


def test_pointer_followed_by_content_is_fine(validator):
    user = 'Traduza o texto abaixo: "Bom dia a todos, sejam bem-vindos à nossa reunião de hoje."'
    assert (
        reasons(validator, conv(user=user, answer="Good morning everyone, welcome to today's meeting.")) == []
    )


def test_brackets_inside_code_do_not_count_as_truncation():
    c = conv(answer='Conte os parênteses:\n```python\nabertos = s.count("(")\n```\nIsso é O(n) em tempo.')
    assert validate.truncated(c) is None


def test_gsm8k_needs_final_number():
    good = conv(answer="São 2 + 2 = 4 maçãs.\n#### 4", metadata={"format": "gsm8k"})
    bad = conv(answer="São 2 + 2 = 4 maçãs.", metadata={"format": "gsm8k"})
    assert validate.gsm8k_answer(good) is None
    assert validate.gsm8k_answer(bad) is not None
    assert validate.gsm8k_answer(conv(answer="Sem número.")) is None  # other formats are not judged


def test_special_tokens_escaped_by_default(validator):
    c = conv(user="Repita <|endoftext|> e <|reserved_7|> agora. " + GOOD_Q)
    assert reasons(validator, c) == []
    assert "<|" not in c.turns[0].text and "< |endoftext|>" in c.turns[0].text
    assert c.metadata["repairs"] == ["special_tokens"]


def test_special_tokens_reject_policy():
    strict = Validator({"special_tokens": {"policy": "reject"}}, languages=["pt"])
    assert reasons(strict, conv(user="Diga <|query|> por favor. " + GOOD_Q)) == ["special_tokens"]


def test_length_in_chars_and_tokens():
    assert validate.length(conv(answer="palavra " * 50), max_chars=100) is not None
    words = validate.length(conv(), max_chars=10_000, max_tokens=5, count_tokens=lambda t: len(t.split()))
    assert words is not None and "tokens" in words


def test_language_judges_only_confident_long_texts(validator):
    assert validator.language(conv(user="OK?", answer="Yes.")) is None
    mixed = (
        "Leia o trecho em inglês: 'Oh, maybe we should love somebody'. O trecho da canção expressa a ideia de"
    )
    assert validator.language(conv(user=mixed, answer="A) mudança de atitude diante do ódio.")) is None


def test_exact_and_near_duplicates():
    v = Validator(languages=["pt"])
    base = (
        "Escreva um parágrafo curto sobre a história da cidade de Ouro Preto em Minas Gerais, "
        "citando o ciclo do ouro, a Inconfidência Mineira e a arquitetura barroca das igrejas."
    )
    assert reasons(v, conv(user=base)) == []
    assert reasons(v, conv(user=base.upper())) == ["duplicate"]
    near = base + " Por favor."
    assert reasons(v, conv(user=near)) == ["duplicate"]
    assert reasons(v, conv(user="Escreva um poema sobre o mar de Fortaleza no Ceará ao entardecer.")) == []


def test_rules_can_be_switched_off():
    v = Validator({"placeholder": {"enabled": False}}, languages=["pt"])
    assert "placeholder" not in reasons(v, conv(answer="Eu sou o {{name}}, um assistente de IA criado aqui."))
    with pytest.raises(ValueError, match="unknown instruct rules"):
        Validator({"no_such_rule": {}})


def test_curate_counts_add_up(tmp_path):
    records = [
        {"instruction": GOOD_Q, "input": "", "output": GOOD_A},
        {"instruction": GOOD_Q, "input": "", "output": GOOD_A},
        {"instruction": "Resuma o texto abaixo.", "input": "", "output": "Não há texto para resumir aqui."},
        {"nada": 1},
    ]
    path = tmp_path / "mix.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n{quebrado\n")
    recipe = load_instruct_recipe()
    recipe.sources = {"mix*": {"license": "CC-BY-4.0"}}
    stats = curate_instructions([path], tmp_path / "out", recipe)
    assert stats["documents_in"] == 5 == stats["documents_kept"] + stats["documents_rejected"]
    assert stats["documents_kept"] == 1
    assert stats["reasons"] == {"duplicate": 1, "unseen_content": 1, "unknown_format": 1, "malformed_json": 1}
    kept = [json.loads(line) for line in (tmp_path / "out" / "conversations.jsonl").read_text().splitlines()]
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert len(kept) == 1 and kept[0]["license"] == "CC-BY-4.0" and kept[0]["source"] == "mix.jsonl"
    assert len(rejects) == 4 and all(r["reasons"] for r in rejects)
    assert json.loads((tmp_path / "out" / "stats.json").read_text()) == stats


def test_default_recipe_names_only_known_rules():
    recipe = load_instruct_recipe()
    assert isinstance(recipe, InstructRecipe)
    assert set(recipe.rules) <= set(validate.RULE_NAMES)
    assert recipe.languages == ["pt"]
