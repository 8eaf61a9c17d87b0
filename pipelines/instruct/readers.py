"""Readers: every supported instruction format becomes a `Conversation`, or a reason why not.

Public SFT sets come in a handful of shapes (Alpaca, Dolly, ShareGPT, OpenAI `messages`,
OpenAssistant trees, GSM8K, plain question/answer pairs, multiple-choice exams such as ENEM) and
each release bends them a little. A reader per shape keeps each bend in one place; `detect_format`
picks the reader per record, so one file may mix shapes. A record that fits no shape, or a line
that is not JSON, raises `RecordError` with a readable reason: the caller turns it into a reject,
never a crash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipelines.instruct.schema import Conversation, Turn


class RecordError(ValueError):
    """A record that cannot become a conversation; `reason` is a short rule-like name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def iter_records(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield `(record_number, record)` from a JSON array or JSONL file.

    A JSONL line that does not parse is yielded as a `RecordError` instead of a record, so one bad
    line costs one reject. A `.json` file that does not parse as a whole falls back to JSONL (some
    releases name JSONL files `.json`).
    """
    raw = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")  # a BOM would spoil the first record
    if raw.lstrip().startswith(b"["):
        try:
            data = json.loads(raw.decode("utf-8", errors="replace"))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            yield from enumerate(data)
            return
    number = 0
    # Split bytes on b"\n", not text with splitlines(): JSON strings may hold U+2028 or U+0085, which
    # splitlines breaks on; and each line is decoded on its own, so bad bytes cost only their record.
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, RecordError("invalid_utf8", f"byte {err.start}: {line[:120]!r}")
            number += 1
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as err:
            yield number, RecordError("malformed_json", f"{err.msg} at column {err.colno}: {text[:120]!r}")
        number += 1


THINK_RE = re.compile(r"^\s*<think>(.*?)</think>\s*", re.S)
REASONING_KEYS = ("reasoning_content", "reasoning", "thinking", "think", "thought")


def split_thinking(answer: str, reasoning: str | None = None) -> tuple[str, str | None]:
    """Separate a reasoning trace from an answer: a leading `<think>…</think>` block or a field.

    A lone or misplaced tag is left in the text on purpose: the `thinking_tags` rule rejects it,
    instead of a guess here deciding where the trace ends.
    """
    if reasoning is not None and str(reasoning).strip():
        return answer, str(reasoning).strip()
    match = THINK_RE.match(answer)
    if match and "<think>" not in match.group(1):
        return answer[match.end() :], match.group(1).strip()
    return answer, None


def _reasoning_of(record: dict[str, Any]) -> str | None:
    return next((record[k] for k in REASONING_KEYS if isinstance(record.get(k), str)), None)


def _assistant(answer: Any, record: dict[str, Any]) -> Turn:
    text, thinking = split_thinking(_as_text(answer), _reasoning_of(record))
    return Turn("assistant", text, thinking)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts: keep the text parts
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in value)
    if isinstance(value, dict):  # one content part; anything else would become Python's repr as text
        if isinstance(value.get("text"), str):
            return value["text"]
        raise RecordError("malformed_record", f"an object with no text where text belongs: {sorted(value)}")
    return str(value)


def _join(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def read_alpaca(record: dict[str, Any]) -> tuple[str | None, list[Turn]]:
    """`instruction` + optional `input` → user; `output` → assistant; LLaMA-Factory `history` first."""
    turns: list[Turn] = []
    for pair in record.get("history") or []:
        turns += [Turn("user", _as_text(pair[0])), Turn("assistant", _as_text(pair[1]))]
    user = _join(_as_text(record["instruction"]), _as_text(record.get("input")))
    turns += [Turn("user", user), _assistant(record["output"], record)]
    return record.get("system") or None, turns


CITATION_RE = re.compile(r"\[\d+\]")


def read_dolly(record: dict[str, Any]) -> tuple[str | None, list[Turn]]:
    """Dolly: `instruction` + `context` (Wikipedia citation markers like `[42]` removed) → user."""
    context = CITATION_RE.sub("", _as_text(record.get("context")))
    return None, [
        Turn("user", _join(_as_text(record["instruction"]), context)),
        _assistant(record["response"], record),
    ]


SPEAKERS = {"human": "user", "user": "user", "prompter": "user", "gpt": "assistant", "assistant": "assistant"}
SPEAKERS.update({"bot": "assistant", "model": "assistant", "chatgpt": "assistant"})


def _chat(messages: list[Any], role_key: str, text_key: str) -> tuple[str | None, list[Turn]]:
    system = None
    turns: list[Turn] = []
    for message in messages:
        role = str(message.get(role_key, "")).lower()
        text = _as_text(message.get(text_key))
        if role == "system" and not turns:
            system = _join(system or "", text)
            continue
        if role not in SPEAKERS:
            raise RecordError("unknown_role", f"role {role!r}")
        if SPEAKERS[role] == "assistant":
            turns.append(_assistant(text, message))
        else:
            turns.append(Turn("user", text))
    return system, turns


def read_sharegpt(record: dict[str, Any]) -> tuple[str | None, list[Turn]]:
    """ShareGPT: `conversations` of `{from, value}`; a top-level `system` field is honoured."""
    system, turns = _chat(record["conversations"], "from", "value")
    return _join(record.get("system") or "", system or "") or None, turns


def read_messages(record: dict[str, Any]) -> tuple[str | None, list[Turn]]:
    """OpenAI style: `messages` of `{role, content}` (+ `reasoning_content` on assistant turns)."""
    return _chat(record["messages"], "role", "content")


def read_oasst(record: dict[str, Any]) -> tuple[str | None, list[Turn]]:
    """OpenAssistant message tree: follow the best-ranked reply (rank 0 first, unranked last)."""
    node = record.get("prompt", record)
    turns: list[Turn] = []
    while node is not None:
        role = SPEAKERS.get(str(node.get("role", "")).lower())
        if role is None:
            raise RecordError("unknown_role", f"role {node.get('role')!r}")
        turns.append(_assistant(node["text"], node) if role == "assistant" else Turn("user", node["text"]))
        replies = [r for r in node.get("replies") or [] if not r.get("deleted")]
        node = min(replies, key=lambda r: (r.get("rank") is None, r.get("rank") or 0), default=None)
    if turns and turns[-1].role == "user":
        turns.pop()  # a prompt nobody answered is not a training example
    return None, turns


CALCULATOR_RE = re.compile(r"<<[^<>]*>>")


def read_gsm8k(record: dict[str, Any]) -> tuple[str | None, list[Turn]]:
    """GSM8K: `question` → user; `answer` with calculator annotations `<<48/2=24>>` stripped."""
    answer = CALCULATOR_RE.sub("", _as_text(record["answer"]))
    return None, [Turn("user", _as_text(record["question"])), _assistant(answer, record)]


QA_KEYS = (("query", "answer"), ("question", "answer"), ("prompt", "response"), ("prompt", "completion"))
QA_KEYS += (("pergunta", "resposta"), ("input", "output"))


def read_qa(record: dict[str, Any]) -> tuple[str | None, list[Turn]]:
    """Plain pairs: query/answer, question/answer, prompt/response, pergunta/resposta, …"""
    for q, a in QA_KEYS:
        if q in record and a in record:
            return record.get("system") or None, [
                Turn("user", _as_text(record[q])),
                _assistant(record[a], record),
            ]
    raise RecordError("unknown_format", "no question/answer keys")


PLACEHOLDER_FIGURE = "[[placeholder]]"


def read_multiple_choice(record: dict[str, Any]) -> tuple[str | None, list[Turn]]:
    """Multiple-choice exams (ENEM from gpt-4-enem): passage + stem + lettered options → the letter.

    Figure placeholders are replaced by the image descriptions when there is one per placeholder;
    otherwise they stay and the `placeholder` rule rejects the question. Records flagged as
    needing images set `metadata["needs_images"]` for the `unseen_content` rule.
    """
    options = record.get("options") or record["alternatives"]
    if not options:
        raise RecordError("no_valid_answer", "no answer options")
    label = str(record.get("label", "")).strip().upper()
    if len(label) != 1 or not "A" <= label < chr(ord("A") + len(options)):
        raise RecordError("no_valid_answer", f"label {record.get('label')!r}")
    question = _as_text(record["question"])
    descriptions = record.get("description") or []
    if descriptions and question.count(PLACEHOLDER_FIGURE) == len(descriptions):
        for description in descriptions:
            question = question.replace(PLACEHOLDER_FIGURE, description, 1)
    lettered = "\n".join(f"{chr(ord('A') + i)}) {_as_text(o).strip()}" for i, o in enumerate(options))
    user = _join(_as_text(record.get("context")), question, lettered)
    answer = f"{label}) {_as_text(options[ord(label) - ord('A')]).strip()}"
    return None, [Turn("user", user), Turn("assistant", answer)]


READERS: dict[str, Callable[[dict[str, Any]], tuple[str | None, list[Turn]]]] = {
    "messages": read_messages,
    "sharegpt": read_sharegpt,
    "oasst": read_oasst,
    "alpaca": read_alpaca,
    "dolly": read_dolly,
    "gsm8k": read_gsm8k,
    "multiple_choice": read_multiple_choice,
    "qa": read_qa,
}


def detect_format(record: Any) -> str | None:
    """The reader name for a record, judged from its keys; None when nothing fits."""
    if not isinstance(record, dict):
        return None
    keys = set(record)
    if isinstance(record.get("messages"), list):
        return "messages"
    if isinstance(record.get("conversations"), list):
        return "sharegpt"
    if "message_tree_id" in keys or isinstance(record.get("prompt"), dict) or "replies" in keys:
        return "oasst"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"instruction", "response"} <= keys:
        return "dolly"
    if {"question", "label"} <= keys and ("alternatives" in keys or "options" in keys):
        return "multiple_choice"
    if {"question", "answer"} <= keys and "####" in _as_text(record["answer"]):
        return "gsm8k"
    if any(q in keys and a in keys for q, a in QA_KEYS):
        return "qa"
    return None


def to_conversation(
    record: Any, *, fmt: str | None = None, source: str = "", license: str = "", record_id: str = ""
) -> Conversation:
    """Read one record into a `Conversation` (format given or detected); `RecordError` otherwise."""
    if isinstance(record, RecordError):
        raise record
    name = fmt or detect_format(record)
    if name is None:
        keys = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise RecordError("unknown_format", f"fits no instruction format (keys: {keys})")
    if name not in READERS:
        raise RecordError("unknown_format", f"no reader named {name!r}")
    try:
        system, turns = READERS[name](record)
        conv = Conversation(turns=turns, system=system, source=source, license=license, id=record_id)
    except RecordError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as err:
        raise RecordError("malformed_record", f"{name}: {type(err).__name__}: {err}") from err
    conv.metadata["format"] = name
    if isinstance(record, dict) and record.get("has_associated_images"):
        conv.metadata["needs_images"] = True
    return conv
