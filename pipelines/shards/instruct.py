"""Instruction shards: an instruct version's conversations rendered into ``sft-*`` shards.

Instruction conversations (an ``instruct`` artifact's ``conversations.jsonl``) go into their own
files, ``sft-<split>_<NNNNN>.ds`` + ``.ds.index`` + ``.ds.loss``, rendered by the chat template with a
mask that is 1 only on what the model must answer. Keeping them apart from the text shards means the
text files are byte-identical with or without instruction data, and a reader that ignores
``.ds.loss`` still sees whole conversations. A conversation's split is a hash of its id, as for text.

A line that cannot be rendered (a damaged record, a template violation, an id beyond uint16) is
counted under its reason and skipped rather than stopping the build: ``in == kept + rejected``.
Conversations are few and short next to the text, so they are rendered in one pass, without the
resume markers of the text shards.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from garimpo.core import ArtifactError, Manifest, verify_or_raise
from garimpo.core.formats import MAX_TOKEN_ID, SPLITS, ShardWriter
from pipelines.instruct.render import render, special_ids
from pipelines.instruct.schema import Conversation
from pipelines.shards.split import validation_ids

CONVERSATIONS_FILE = "conversations.jsonl"
MAX_SKIPPED_IDS = 100  # skipped conversation ids listed in the stats; the counts cover all of them


def check_instruct(instruct: Manifest) -> None:
    """Refuse anything but an intact instruct version with a conversations file."""
    verify_or_raise(instruct)
    if instruct.kind != "instruct":
        raise ArtifactError(f"{instruct.ref}: expected an instruct artifact, got kind {instruct.kind!r}")
    instruct.file(CONVERSATIONS_FILE)


def check_renders(tok: Tokenizer, tokenizer: Manifest) -> None:
    """Refuse a tokenizer that lacks the special tokens the chat template needs."""
    try:
        special_ids(tok)
    except ValueError as error:
        raise ArtifactError(f"{tokenizer.ref}: cannot render conversations: {error}") from error


def _conversation_lines(instruct: Manifest) -> Iterator[tuple[int, str]]:
    with open(instruct.path_of(CONVERSATIONS_FILE), encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line


def _line_id(number: int, line: str) -> str:
    """The conversation's id, or ``line:<number>`` when the line has none (or is not JSON)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    own = record.get("id") if isinstance(record, dict) else None
    return own if isinstance(own, str) and own else f"line:{number}"


class SkippedConversation(ValueError):
    """A conversation that cannot go into a shard; ``reason`` is the short name counted in the stats."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def render_line(line: str, tok: Tokenizer) -> tuple[list[int], list[int]]:
    """``(ids, loss_mask)`` of one ``conversations.jsonl`` line; SkippedConversation if it can't be."""
    try:
        conv = Conversation.from_dict(json.loads(line))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise SkippedConversation("malformed_record", f"{type(error).__name__}: {error}") from error
    try:
        ids, mask = render(conv, tok)
    except ValueError as error:
        raise SkippedConversation("render_failed", str(error)) from error
    if max(ids) > MAX_TOKEN_ID:
        raise SkippedConversation("id_exceeds_uint16", f"token id {max(ids)} > {MAX_TOKEN_ID}")
    return ids, mask


def write_instruct_shards(
    folder: Path, instruct: Manifest, tokenizer_text: str, val_fraction: float, max_tokens_per_shard: int
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Render every conversation of an instruct version into ``sft-<split>_<NNNNN>.ds`` (+ index, loss).

    The conversation's ids already end with ``<|endoftext|>`` (the template closes with it), so no EOS
    is added. Returns the per-file manifest counts and the stats of the run.
    """
    tok = Tokenizer.from_str(tokenizer_text)
    val_ids = validation_ids(
        (_line_id(number, line) for number, line in _conversation_lines(instruct)), val_fraction
    )
    writers = {split: ShardWriter(folder, split, max_tokens_per_shard, source="instruct") for split in SPLITS}
    reasons: Counter[str] = Counter()
    skipped: list[dict[str, str]] = []
    total = 0
    for number, line in _conversation_lines(instruct):
        total += 1
        conv_id = _line_id(number, line)
        try:
            ids, mask = render_line(line, tok)
        except SkippedConversation as skip:
            reasons[skip.reason] += 1
            if len(skipped) < MAX_SKIPPED_IDS:
                skipped.append({"id": conv_id, "reason": skip.reason, "detail": skip.detail[:200]})
            continue
        writers["val" if conv_id in val_ids else "train"].add(ids, loss_mask=mask)
    counts: dict[str, dict[str, Any]] = {}
    for writer in writers.values():
        counts.update(writer.close())
    rejected = sum(reasons.values())
    stats = {
        "stage": "instruct_render",
        "in": total,
        "kept": total - rejected,
        "rejected": rejected,
        "reasons": dict(reasons),
        "skipped": skipped,
    }
    return counts, stats
