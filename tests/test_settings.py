"""One strict loader for every settings file, and defaults written once.

Each concern's settings object (curation recipe, instruct recipe, shard settings, training config)
refuses an unknown key with a message naming the key and the file; shipped configs are found by name
without a checkout; the CLI and the flows' parameters take their defaults from the same objects.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from garimpo.cli import build_parser
from garimpo.cli.shards import _settings
from garimpo.core.settings import CONFIGS, config_path, shipped_configs
from pipelines.instruct.curate import DEFAULT_RECIPE as INSTRUCT_RECIPE
from pipelines.instruct.curate import load_instruct_recipe
from pipelines.recipe import DEFAULT_RECIPE, load_recipe
from pipelines.shards import load_shard_settings
from train.config import DEFAULT_CONFIG, TrainConfig


@pytest.mark.parametrize(
    ("loader", "text", "key"),
    [
        (load_recipe, "[dedup]\nbandz = 3\n", "bandz"),
        (load_recipe, "langauge = 'pt'\n", "langauge"),
        (load_instruct_recipe, "name = 'x'\nlanguage = ['pt']\n", "language"),
        (load_shard_settings, "val_fracion = 0.1\n", "val_fracion"),
        (TrainConfig.from_toml, "[model]\npreset = 'tiny'\n[train]\nbatchsize = 2\n", "batchsize"),
    ],
)
def test_an_unknown_key_names_the_key_and_the_file(tmp_path: Path, loader, text: str, key: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        loader(path)
    assert key in str(error.value) and str(path) in str(error.value)


def test_shipped_configs_are_found_by_name_inside_the_package() -> None:
    assert Path(__import__("garimpo").__file__).parent / "configs" == CONFIGS
    assert {"pt", "instruct"} <= set(shipped_configs("recipes"))
    assert shipped_configs("shards") == ["default"]
    assert config_path("recipes", DEFAULT_RECIPE).is_file()
    assert config_path("recipes", INSTRUCT_RECIPE).is_file()
    assert config_path("train", DEFAULT_CONFIG).is_file()
    assert config_path("train", "some/where.toml") == Path("some/where.toml")
    with pytest.raises(ValueError, match="portulino"):
        config_path("train", "portulinho")  # the message lists what is shipped


def test_a_malformed_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[dedup\n")
    with pytest.raises(ValueError, match=r"broken\.toml"):
        load_recipe(path)
    with pytest.raises(ValueError, match="not found"):
        load_recipe(tmp_path / "absent.toml")


def test_cli_options_override_single_settings_and_default_to_the_file(tmp_path: Path) -> None:
    parser = build_parser()
    argv = ["shards", "--corpus", "corpus/c", "--tokenizer", "tokenizer/t"]
    shipped = load_shard_settings()
    assert _settings(parser.parse_args(argv), "val_fraction", "mix") == shipped
    given = _settings(parser.parse_args([*argv, "--val-fraction", "0.2", "--mix", '{"a": 2}']), "val_fraction", "mix")
    assert given == shipped.replace(val_fraction=0.2, mix={"a": 2.0})
    mine = tmp_path / "mine.toml"
    mine.write_text("max_tokens_per_shard = 4096\n")
    from_file = _settings(parser.parse_args([*argv, "--settings", str(mine)]), "val_fraction")
    assert from_file == shipped.replace(max_tokens_per_shard=4096)


def test_flow_parameters_take_their_defaults_from_the_settings_objects() -> None:
    import flows

    shipped = load_shard_settings()
    for params in (flows.BuildShardsParams(), flows.RebuildShardsParams()):
        assert params.shard_settings() == shipped
        assert params.vocab_size == shipped.vocab_size
    assert flows.CleanCorpusParams().recipe == DEFAULT_RECIPE
    assert flows.TrainParams().config == DEFAULT_CONFIG
    assert flows.BuildShardsParams(val_fraction=0.1, mix={"web": 0.5}).shard_settings() == shipped.replace(
        val_fraction=0.1, mix={"web": 0.5}
    )
