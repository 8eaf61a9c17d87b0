"""Instruction data: read many SFT formats into one schema, validate, render with special tokens.

The pieces are separate modules so each can be used alone: `readers` (formats → `Conversation`),
`validate` (named rules → reasons), `render` (chat template → ids + loss mask) and `curate` (the
whole run over files, writing kept conversations, rejects and per-rule stats).
"""

from pipelines.instruct.curate import (
    InstructRecipe,
    curate_instructions,
    load_instruct_recipe,
    publish_instructions,
)
from pipelines.instruct.schema import Conversation, Turn

__all__ = [
    "Conversation",
    "InstructRecipe",
    "Turn",
    "curate_instructions",
    "load_instruct_recipe",
    "publish_instructions",
]
