"""Settings files: one strict TOML loader for every settings object, and the shipped default configs.

Each concern has one settings dataclass (the curation `Recipe`, the `ShardSettings`, the
`TrainConfig`, the `InstructRecipe`), and each is read by `from_dict` here: an unknown key is an error
that names the key and the file, because a typo in a threshold must never silently fall back to a
default. The CLI options and the flows' parameters take their defaults from the same objects, so a
default is written once.

The default configs live in ``garimpo/configs/`` inside the package, so a wheel install finds them
without a checkout: `config_path` takes a shipped name (``pt``, ``tiny``) or a path to a user's file.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
T = TypeVar("T")


def shipped_configs(kind: str) -> list[str]:
    """Names of the shipped configs of one kind (``recipes``, ``shards``, ``train``)."""
    return sorted(p.stem for p in (CONFIGS / kind).glob("*.toml"))


def config_path(kind: str, value: str | Path) -> Path:
    """A shipped config by name (``config_path("train", "tiny")``) or a user's TOML file by path."""
    text = str(value)
    if "/" not in text and "\\" not in text and not text.endswith(".toml"):
        shipped = CONFIGS / kind / f"{text}.toml"
        if not shipped.is_file():
            raise ValueError(f"no shipped {kind} config {text!r}; shipped: {shipped_configs(kind)}")
        return shipped
    return Path(value)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, with its name in the error when it is missing or malformed."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as e:
        raise ValueError(f"settings file {path} not found") from e
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from e


def from_dict(cls: type[T], data: dict[str, Any], origin: str) -> T:
    """Build the dataclass ``cls`` from parsed TOML, refusing unknown keys at every level.

    A field whose type is itself a dataclass is read as a table of that type; TOML arrays become
    tuples where the field is a tuple (frozen settings stay hashable). ``origin`` (a file name, with
    the table when nested) starts every error message.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{origin}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{origin}: unknown keys {unknown}; expected some of {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value, f"{origin} [{key}]")
        else:
            kwargs[key] = _tuples(value) if _is_tuple(hint) else value
    return cls(**kwargs)


def load_settings(cls: type[T], path: str | Path) -> T:
    """``from_dict`` on a TOML file."""
    return from_dict(cls, read_toml(path), str(path))


def to_dict(settings: Any) -> dict[str, Any]:
    """A settings object as plain JSON-able data (what a manifest's ``config`` records)."""
    return _jsonable(dataclasses.asdict(settings))


def _is_tuple(hint: Any) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
