"""The shard settings: every choice a shard build makes, in one frozen object read from one file.

The dataclass has no defaults on purpose: the defaults are written once, in the shipped
``garimpo/configs/shards/default.toml``, and the CLI, the flows and the tests all start from
`load_shard_settings` (``.replace(...)`` for one change), so a default can never differ between two
entry points. A user's file is laid over the shipped default, so it names only what it changes; an
unknown key is an error naming the key and the file (`garimpo.core.settings`), and a value out of
range is refused when the object is built, wherever it came from.

``vocab_size`` is for the tokenizer trained when a build is given none; the others decide the shards'
bytes and are recorded in the shards manifest's ``config``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from garimpo.core.settings import config_path, from_dict, read_toml, to_dict
from pipelines.shards.mix import check_weight
from pipelines.shards.split import check_val_fraction
from pipelines.tokenizer import check_vocab_size

DEFAULT_SETTINGS = "default"  # the shipped garimpo/configs/shards/default.toml
KIND = "shards"


@dataclass(frozen=True)
class ShardSettings:
    """How a corpus version becomes token shards (see ``garimpo/configs/shards/default.toml``)."""

    vocab_size: int  # of the tokenizer trained when none is given
    val_fraction: float  # share of documents (by a hash of their id) in the val split, in [0, 1)
    max_tokens_per_shard: int  # a shard closes before it would grow past this many tokens
    mix_seed: int  # seeds the hash that picks the fractional copies of a weighted source
    mix: dict[str, float]  # corpus source -> weight (unlisted sources weigh 1.0); empty: no mixing

    def __post_init__(self) -> None:
        check_vocab_size(self.vocab_size)
        check_val_fraction(self.val_fraction)
        if not _is_int(self.max_tokens_per_shard) or self.max_tokens_per_shard < 1:
            raise ValueError(
                f"max_tokens_per_shard must be an integer >= 1, got {self.max_tokens_per_shard!r}"
            )
        if not _is_int(self.mix_seed):
            raise ValueError(f"mix_seed must be an integer, got {self.mix_seed!r}")
        if not isinstance(self.mix, dict):
            raise ValueError(f"mix must be a table of source = weight, got {self.mix!r}")
        for source, weight in self.mix.items():
            check_weight(weight, source)
        object.__setattr__(self, "mix", dict(self.mix))  # our own copy: the caller's dict may change

    @property
    def recorded_mix(self) -> dict[str, float] | None:
        """The mix as a manifest records it: ``None`` when there is no mixing."""
        return dict(self.mix) or None

    def replace(self, **changes: Any) -> ShardSettings:
        """A copy with some fields changed, checked like any other."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able data."""
        return to_dict(self)


def load_shard_settings(path_or_name: str | Path = DEFAULT_SETTINGS) -> ShardSettings:
    """The shipped settings by name (``default``), or a user's TOML file laid over them.

    Unknown keys and out-of-range values raise ValueError naming the file.
    """
    path = config_path(KIND, path_or_name)
    default = config_path(KIND, DEFAULT_SETTINGS)
    data = read_toml(path)
    if path.resolve() != default.resolve():
        data = read_toml(default) | data  # a user's file names only what it changes; [mix] replaces
    try:
        return from_dict(ShardSettings, data, str(path))
    except ValueError as error:
        if str(error).startswith(f"{path}:"):
            raise
        raise ValueError(f"{path}: {error}") from error


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
