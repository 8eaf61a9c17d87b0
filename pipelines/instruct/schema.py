"""One schema for every instruction format: a conversation of user/assistant turns.

Every reader produces a `Conversation`, every rule judges one, the renderer turns one into token ids.
Keeping the shape this small (optional system prompt, ordered turns, optional thinking on assistant
turns) is what lets one template and one set of rules serve Alpaca, ShareGPT, OpenAssistant, GSM8K
and reasoning traces alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ROLES = ("user", "assistant")


@dataclass
class Turn:
    """One message. `thinking` holds a reasoning trace and is only allowed on assistant turns."""

    role: str
    text: str
    thinking: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if self.thinking is not None and self.role != "assistant":
            raise ValueError("only assistant turns carry thinking")


@dataclass
class Conversation:
    """A normalized training example: optional system prompt, then alternating user/assistant turns.

    `metadata` keeps what a reader or rule learned about the record (its format, flags such as
    `needs_images`), so a report can explain a decision without re-reading the source.
    """

    turns: list[Turn]
    system: str | None = None
    source: str = ""
    license: str = ""
    id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.turns:
            raise ValueError("a conversation needs at least one turn")
        for i, turn in enumerate(self.turns):
            expected = ROLES[i % 2]
            if turn.role != expected:
                raise ValueError(f"turn {i} should be {expected}, got {turn.role} (turns must alternate)")
        if self.turns[-1].role != "assistant":
            raise ValueError("a conversation must end with an assistant turn")

    def user_texts(self) -> list[str]:
        """Texts of the user turns, in order."""
        return [t.text for t in self.turns if t.role == "user"]

    def assistant_turns(self) -> list[Turn]:
        """The assistant turns, in order."""
        return [t for t in self.turns if t.role == "assistant"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the `conversations.jsonl` line format)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        """Inverse of `to_dict`."""
        return cls(
            turns=[Turn(**t) for t in data["turns"]],
            system=data.get("system"),
            source=data.get("source", ""),
            license=data.get("license", ""),
            id=data.get("id", ""),
            metadata=dict(data.get("metadata") or {}),
        )
