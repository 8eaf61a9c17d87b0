"""Chat template: a `Conversation` ↔ token ids plus a loss mask, with the reserved special tokens.

    [<|system|> SYSTEM] ( <|query|> USER <|answer|> [<|think|> THINKING <|think|>] ANSWER )+ <|endoftext|>

Why this shape: every boundary is a single special token that content can never produce, so the
ids split back into turns without guessing (`parse_rendered`). One `<|think|>` opens and the same
token closes a reasoning block; it can only open right after `<|answer|>`, so its first occurrence
opens and its second closes. An answer ends at the next `<|query|>` or at `<|endoftext|>`.

Content is encoded with special-token parsing switched off, so a literal `<|answer|>` typed by a
user becomes ordinary text pieces, never the control id; the validator additionally escapes such
literals (`< |answer|>`) so the model does not learn to print them. The loss mask is 1 on what the
model must learn to produce: the thinking block with both `<|think|>` delimiters, the answer, and
the closing `<|endoftext|>`; 0 on the system prompt, user text, `<|query|>` and `<|answer|>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tokenizers import Tokenizer

from garimpo.core.formats import (
    ANSWER_TOKEN,
    EOS_TOKEN,
    QUERY_TOKEN,
    SPECIAL_TOKENS,
    SYSTEM_TOKEN,
    THINK_TOKEN,
)
from pipelines.instruct.schema import Conversation, Turn


def special_ids(tokenizer: Tokenizer) -> dict[str, int]:
    """Id of every reserved special token, looked up by its string; fails if one is missing."""
    ids = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
    missing = [token for token, i in ids.items() if i is None]
    if missing:
        raise ValueError(f"tokenizer lacks the reserved special tokens {missing}")
    return ids


@contextmanager
def _literal_specials(tokenizer: Tokenizer) -> Iterator[None]:
    # encode_special_tokens=True makes the tokenizer treat special-token strings as plain text.
    previous = tokenizer.encode_special_tokens
    tokenizer.encode_special_tokens = True
    try:
        yield
    finally:
        tokenizer.encode_special_tokens = previous


def render(conv: Conversation, tokenizer: Tokenizer) -> tuple[list[int], list[int]]:
    """Token ids and loss mask (1 = train on it) for a conversation; see the module docstring."""
    sid = special_ids(tokenizer)
    control = set(sid.values())
    ids: list[int] = []
    mask: list[int] = []

    def emit(token_ids: list[int], loss: int) -> None:
        ids.extend(token_ids)
        mask.extend([loss] * len(token_ids))

    def content(text: str) -> list[int]:
        encoded = tokenizer.encode(text, add_special_tokens=False).ids
        if control.intersection(encoded):
            raise ValueError(f"text encodes to a control token id: {text[:80]!r}")
        return encoded

    with _literal_specials(tokenizer):
        if conv.system:
            emit([sid[SYSTEM_TOKEN]], 0)
            emit(content(conv.system), 0)
        for turn in conv.turns:
            if turn.role == "user":
                emit([sid[QUERY_TOKEN]], 0)
                emit(content(turn.text), 0)
                continue
            emit([sid[ANSWER_TOKEN]], 0)
            if turn.thinking:
                emit([sid[THINK_TOKEN]], 1)
                emit(content(turn.thinking), 1)
                emit([sid[THINK_TOKEN]], 1)
            emit(content(turn.text), 1)
    emit([sid[EOS_TOKEN]], 1)
    return ids, mask


def parse_rendered(ids: list[int], tokenizer: Tokenizer) -> Conversation:
    """Recover the conversation from rendered ids (the inverse of `render`); ValueError if malformed."""
    sid = special_ids(tokenizer)
    names = {i: token for token, i in sid.items()}
    # Split into (control token, content ids) segments; content between two control tokens.
    segments: list[tuple[str, list[int]]] = []
    for i in ids:
        if i in names:
            segments.append((names[i], []))
        elif segments:
            segments[-1][1].append(i)
        else:
            raise ValueError("rendered ids must start with a special token")

    def text(chunk: list[int]) -> str:
        return tokenizer.decode(chunk, skip_special_tokens=False)

    if not segments or segments[-1] != (EOS_TOKEN, []) or any(name == EOS_TOKEN for name, _ in segments[:-1]):
        raise ValueError("rendered ids must end with exactly one <|endoftext|>")
    segments.pop()
    system = None
    if segments and segments[0][0] == SYSTEM_TOKEN:
        system = text(segments.pop(0)[1])
    turns: list[Turn] = []
    while segments:
        name, chunk = segments.pop(0)
        if name == QUERY_TOKEN:
            turns.append(Turn("user", text(chunk)))
        elif name == ANSWER_TOKEN and not chunk and segments[:2] and segments[0][0] == THINK_TOKEN:
            thinking = text(segments.pop(0)[1])
            closer = segments.pop(0) if segments else ("", [])
            if closer[0] != THINK_TOKEN:
                raise ValueError("unclosed <|think|> block")
            turns.append(Turn("assistant", text(closer[1]), thinking))
        elif name == ANSWER_TOKEN:
            turns.append(Turn("assistant", text(chunk)))
        else:
            raise ValueError(f"unexpected {name} at turn {len(turns)}")
    return Conversation(turns=turns, system=system)
