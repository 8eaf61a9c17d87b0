"""Nothing breaks silently: non-finite steps are skipped, counted and logged, a run that keeps making
them stops with a message, no checkpoint ever holds NaN/inf weights, and the CUDA-only choices
(bf16 refusal, automatic checkpointing, compile, MFU) decide correctly for a given GPU."""

from __future__ import annotations

import json
import math

import pytest
import torch

from garimpo.core import ArtifactError
from model.gpt import GPT, GPTConfig
from tests.train_shards import corpus, publish_shards, small_cfg
from train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from train.device import pick_precision
from train.guard import NonFiniteGuard, check_finite_weights
from train.runlog import METRICS
from train.speed import peak_flops, use_checkpointing, wants_compile
from train.trainer import train


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus(120, seed=2)


@pytest.fixture(scope="module")
def shards(store, texts, tokenizer_json):
    return publish_shards(store, "safety", texts, tokenizer_json)


def test_guard_counts_skips_and_stops_after_k_in_a_row():
    guard = NonFiniteGuard(limit=3, skipped=5)
    assert guard.allow(0, 2.5, 1.0)
    assert not guard.allow(1, math.nan, 1.0) and not guard.allow(1, 2.0, math.inf)
    assert (guard.skipped, guard.in_row) == (7, 2)
    guard.stop_if_stuck()  # two in a row: not yet
    assert guard.allow(1, 2.0, 0.5) and guard.in_row == 0  # a good step resets the streak
    for _ in range(3):
        assert not guard.allow(2, math.nan, math.nan)
    with pytest.raises(ArtifactError, match="stopped at step 3: 3 steps in a row had a non-finite loss"):
        guard.stop_if_stuck()


def test_diverging_run_stops_and_keeps_its_good_checkpoints(store, shards):
    base = {"eval_every": 0, "eval_prompts": []}
    good = train(small_cfg(max_steps=4, checkpoint_every=2, **base), shards.ref, store.root, run_name="boom")
    assert good.skipped_steps == 0 and all(math.isfinite(x) for x in good.losses)
    # an absurd rate: the first update blows the weights up to ~1e30, every later loss is NaN
    wild = small_cfg(max_steps=12, checkpoint_every=0, lr=1e30, grad_clip=0.0, nonfinite_limit=3, **base)
    with pytest.raises(ArtifactError, match="stopped at step 6: 3 steps in a row"):
        train(wild, shards.ref, store.root, run_name="boom")
    assert [p.name for p in list_checkpoints(good.run_dir)] == ["step_0000002.pt", "step_0000004.pt"]
    assert latest_checkpoint(good.run_dir).name == "step_0000004.pt"
    state = load_checkpoint(good.run_dir)
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    events = [json.loads(line) for line in (good.run_dir / METRICS).read_text().splitlines()]
    skips = [e for e in events if e["kind"] == "skip"]
    assert [e["skipped"] for e in skips] == [1, 2, 3] and all(e["grad_norm"] == "nan" for e in skips)
    # the run resumes from its last good checkpoint with a sane rate
    again = train(small_cfg(max_steps=6, checkpoint_every=2, **base), shards.ref, store.root, run_name="boom")
    assert again.step == 6 and all(math.isfinite(x) for x in again.losses)


def test_non_finite_weights_are_never_checkpointed():
    model = GPT(GPTConfig.preset("tiny"))
    check_finite_weights(model, 3)
    with torch.no_grad():
        model.layers[1].mlp.up_proj.weight[0, 0] = math.inf
    with pytest.raises(
        ArtifactError, match=r"step 3: 1 weight tensor.*layers\.1\.mlp\.up_proj\.weight\); no checkpoint"
    ):
        check_finite_weights(model, 3)


def test_bf16_is_refused_below_compute_capability_8():
    cuda = torch.device("cuda", 0)
    with pytest.raises(ValueError, match=r"needs compute capability 8.0 .*7\.5: use precision = 'fp16'"):
        pick_precision(cuda, "bf16", capability=(7, 5))
    assert pick_precision(cuda, "auto", capability=(7, 5)) == "fp16"
    assert pick_precision(cuda, "auto", capability=(8, 0)) == "bf16"
    assert pick_precision(cuda, "bf16", capability=(9, 0)) == "bf16"
    assert pick_precision(cuda, "fp16", capability=(7, 0)) == "fp16"
    with pytest.raises(ValueError, match="needs a CUDA device"):
        pick_precision(torch.device("cpu"), "bf16")


def test_automatic_checkpointing_follows_the_plan():
    portulino = GPTConfig.preset("portulino")
    assert use_checkpointing("auto", portulino, 8, "fp16", "adamw", 15 * 10**9)  # a T4
    assert not use_checkpointing("auto", portulino, 8, "bf16", "adamw", 80 * 2**30)  # an H100
    assert not use_checkpointing("auto", portulino, 8, "fp32", "adamw", None)  # CPU: never
    assert use_checkpointing("on", portulino, 1, "fp32", "adamw", None)
    assert not use_checkpointing("off", portulino, 64, "fp16", "adamw", 15 * 10**9)


def test_compile_and_mfu_are_cuda_only_on_auto():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert not wants_compile("auto", cpu) and wants_compile("auto", cuda)
    assert wants_compile(True, cpu) and not wants_compile(False, cuda)
    assert peak_flops(cpu, "fp32") is None


def test_new_settings_are_validated():
    with pytest.raises(ValueError, match="activation_checkpointing must be auto, on or off"):
        small_cfg(activation_checkpointing="sometimes")
    with pytest.raises(ValueError, match="compile must be true, false or 'auto'"):
        small_cfg(compile="yes")
    with pytest.raises(ValueError, match="nonfinite_limit must be at least 1"):
        small_cfg(nonfinite_limit=0)
