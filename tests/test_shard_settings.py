"""Shard settings: the shipped default loads, a user's file is checked key by key and value by value."""

from __future__ import annotations

from pathlib import Path

import pytest

from garimpo.core.settings import shipped_configs
from pipelines.shards import ShardSettings, load_shard_settings


def test_the_shipped_default_loads() -> None:
    assert "default" in shipped_configs("shards")
    settings = load_shard_settings()
    assert settings == load_shard_settings("default")
    assert settings == ShardSettings(
        vocab_size=32000, val_fraction=0.05, max_tokens_per_shard=50_000_000, mix_seed=0, mix={}
    )
    assert settings.recorded_mix is None
    assert settings.to_dict() == {
        "vocab_size": 32000,
        "val_fraction": 0.05,
        "max_tokens_per_shard": 50_000_000,
        "mix_seed": 0,
        "mix": {},
    }


def test_a_users_file_changes_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('val_fraction = 0.1\n\n[mix]\nbooks = 3.0\n"fórum" = 0.5\n', encoding="utf-8")
    settings = load_shard_settings(path)
    assert settings == load_shard_settings().replace(val_fraction=0.1, mix={"books": 3.0, "fórum": 0.5})
    assert settings.recorded_mix == {"books": 3.0, "fórum": 0.5}


def test_an_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("val_fracton = 0.1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="val_fracton") as error:
        load_shard_settings(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mix]\nweb = -1.0\n", "mix weight"),
        ("[mix]\nweb = inf\n", "mix weight"),
        ("val_fraction = 1.0\n", "val_fraction"),
        ("max_tokens_per_shard = 0\n", "max_tokens_per_shard"),
        ("vocab_size = 100\n", "vocab_size"),
        ("vocab_size = 70000\n", "vocab_size"),
    ],
)
def test_an_invalid_value_in_a_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        load_shard_settings(path)
    assert str(path) in str(error.value)


def test_an_invalid_value_is_refused_in_code_too() -> None:
    default = load_shard_settings()
    with pytest.raises(ValueError, match="mix weight"):
        default.replace(mix={"web": -0.5})
    with pytest.raises(ValueError, match="val_fraction"):
        default.replace(val_fraction=1.0)
    with pytest.raises(ValueError, match="val_fraction"):
        default.replace(val_fraction=-0.1)


def test_settings_cannot_be_changed_behind_their_back() -> None:
    mix = {"web": 2.0}
    settings = load_shard_settings().replace(mix=mix)
    mix["web"] = -1.0
    assert settings.mix == {"web": 2.0}
    with pytest.raises(AttributeError):
        settings.val_fraction = 0.5  # type: ignore[misc]


def test_a_missing_shipped_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no shipped shards config"):
        load_shard_settings("nope")
