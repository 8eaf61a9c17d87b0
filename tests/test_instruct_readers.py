"""Readers: each instruction format becomes the same `Conversation`; bad input becomes a RecordError."""

import json

import pytest

from pipelines.instruct.readers import (
    RecordError,
    detect_format,
    iter_records,
    split_thinking,
    to_conversation,
)
from pipelines.instruct.schema import Conversation, Turn


def test_alpaca_joins_instruction_and_input():
    conv = to_conversation(
        {"instruction": "Traduza para o inglês.", "input": "Bom dia", "output": "Good morning"}
    )
    assert conv.metadata["format"] == "alpaca"
    assert conv.turns == [
        Turn("user", "Traduza para o inglês.\n\nBom dia"),
        Turn("assistant", "Good morning"),
    ]


def test_alpaca_history_becomes_earlier_turns():
    record = {"instruction": "E depois?", "input": "", "output": "Fim.", "history": [["Oi", "Olá"]]}
    assert [t.text for t in to_conversation(record).turns] == ["Oi", "Olá", "E depois?", "Fim."]


def test_sharegpt_with_system():
    record = {
        "conversations": [
            {"from": "system", "value": "Seja breve."},
            {"from": "human", "value": "Oi"},
            {"from": "gpt", "value": "Olá!"},
        ]
    }
    conv = to_conversation(record)
    assert conv.metadata["format"] == "sharegpt"
    assert conv.system == "Seja breve." and conv.turns == [Turn("user", "Oi"), Turn("assistant", "Olá!")]


def test_openai_messages_with_reasoning_field():
    record = {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4", "reasoning_content": "soma simples"},
        ]
    }
    conv = to_conversation(record)
    assert conv.metadata["format"] == "messages"
    assert conv.turns[1] == Turn("assistant", "4", thinking="soma simples")


def test_oasst_tree_follows_top_ranked_branch():
    record = {
        "message_tree_id": "t1",
        "prompt": {
            "role": "prompter",
            "text": "Pergunta",
            "replies": [
                {"role": "assistant", "text": "pior", "rank": 1, "replies": []},
                {
                    "role": "assistant",
                    "text": "melhor",
                    "rank": 0,
                    "replies": [{"role": "prompter", "text": "sem resposta", "replies": []}],
                },
            ],
        },
    }
    conv = to_conversation(record)
    assert conv.metadata["format"] == "oasst"
    assert conv.turns == [Turn("user", "Pergunta"), Turn("assistant", "melhor")]


def test_gsm8k_strips_calculator_annotations():
    record = {"question": "Quanto é 48/2?", "answer": "Metade: 48/2 = <<48/2=24>>24\n#### 24"}
    conv = to_conversation(record)
    assert conv.metadata["format"] == "gsm8k"
    assert conv.turns[1].text == "Metade: 48/2 = 24\n#### 24"


def test_dolly_removes_citation_markers():
    record = {
        "instruction": "Resuma.",
        "context": "O Brasil[1] é grande.[23]",
        "response": "É grande.",
        "category": "x",
    }
    conv = to_conversation(record)
    assert conv.metadata["format"] == "dolly"
    assert conv.turns[0].text == "Resuma.\n\nO Brasil é grande."


def test_plain_query_answer_and_think_block():
    conv = to_conversation({"query": "Por quê?", "answer": "<think>pensar um pouco</think>Porque sim."})
    assert conv.metadata["format"] == "qa"
    assert conv.turns[1] == Turn("assistant", "Porque sim.", thinking="pensar um pouco")


def test_unbalanced_think_tag_is_left_for_the_validator():
    assert split_thinking("<think>sem fim. Resposta") == ("<think>sem fim. Resposta", None)


def test_multiple_choice_letters_options_and_fills_figure_descriptions():
    record = {
        "question": "[[placeholder]]\nO que mostra a figura?",
        "alternatives": ["um gato", "um cão"],
        "label": "B",
        "description": ["Descrição da imagem: um cão."],
    }
    conv = to_conversation(record)
    assert conv.metadata["format"] == "multiple_choice"
    assert (
        conv.turns[0].text == "Descrição da imagem: um cão.\nO que mostra a figura?\n\nA) um gato\nB) um cão"
    )
    assert conv.turns[1].text == "B) um cão"


def test_multiple_choice_void_label_is_rejected():
    with pytest.raises(RecordError) as err:
        to_conversation({"question": "?", "alternatives": ["a", "b"], "label": "Anulado"})
    assert err.value.reason == "no_valid_answer"


@pytest.mark.parametrize("record", [{"foo": 1}, ["not", "a", "dict"], "text"])
def test_unknown_records_are_rejected_with_a_reason(record):
    assert detect_format(record) is None
    with pytest.raises(RecordError) as err:
        to_conversation(record)
    assert err.value.reason == "unknown_format"


def test_structurally_broken_record_is_a_reject_not_a_crash():
    with pytest.raises(RecordError) as err:
        to_conversation({"messages": [{"role": "assistant", "content": "sem pergunta"}]})
    assert err.value.reason == "malformed_record"


def test_iter_records_jsonl_with_a_bad_line(tmp_path):
    path = tmp_path / "d.jsonl"
    good = {"instruction": "a\u2028b", "input": "", "output": "c"}
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n{broken\n\n" + json.dumps(good) + "\n")
    records = list(iter_records(path))
    assert [n for n, _ in records] == [0, 1, 2]
    assert records[0][1] == good
    assert isinstance(records[1][1], RecordError) and records[1][1].reason == "malformed_json"


def test_iter_records_json_array(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"question": "q", "answer": "a"}, {"query": "q", "answer": "a"}]))
    assert [r for _, r in iter_records(path)] == [
        {"question": "q", "answer": "a"},
        {"query": "q", "answer": "a"},
    ]


def test_conversation_dict_round_trip():
    conv = Conversation(
        turns=[Turn("user", "q"), Turn("assistant", "a", "t")], system="s", source="f", id="1"
    )
    assert Conversation.from_dict(json.loads(json.dumps(conv.to_dict()))) == conv
