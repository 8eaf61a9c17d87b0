"""The memory planner: its activation figures against what autograd really saves, and the T4 target."""

from __future__ import annotations

import json

import pytest
import torch

from model.gpt import GPT, GPTConfig
from train.plan import (
    GPUS,
    HEADROOM,
    estimate,
    flops_per_token,
    format_plan,
    gpu_key,
    mfu,
    param_counts,
    plan,
    saved_bytes,
)

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def measured_saved_bytes(cfg: GPTConfig, micro_batch: int, precision: str, checkpointing: bool) -> int:
    """Bytes of every distinct storage autograd saves in a training forward (parameters excluded)."""
    torch.manual_seed(0)
    m = GPT(cfg).train()
    m.checkpointing = checkpointing
    own = {t.untyped_storage().data_ptr() for t in (*m.parameters(), *m.buffers())}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in own:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    x = torch.randint(0, cfg.vocab_size, (micro_batch, cfg.seq_len))
    dtype = DTYPES[precision]
    cast = torch.autocast("cpu", dtype=dtype) if dtype else torch.autocast("cpu", enabled=False)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), cast:
        _, loss = m(x, torch.roll(x, -1, 1))
    assert torch.isfinite(loss)
    return sum(seen.values())


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize(
    "cfg",
    [
        GPTConfig(vocab_size=4096, n_layer=3, n_head=8, n_kv_head=2, n_embd=256, seq_len=128),
        GPTConfig.preset("small", seq_len=128),
    ],
    ids=["gqa-256", "small"],
)
def test_activation_estimate_matches_saved_tensor_bytes(cfg, precision, checkpointing):
    got = measured_saved_bytes(cfg, 2, precision, checkpointing)
    s = saved_bytes(cfg, 2, precision, checkpointing)
    # without checkpointing the autocast copies of the block matrices are saved tensors too
    casts = 0 if checkpointing else estimate(cfg, 2, precision, checkpointing)["weight_casts"]
    expected = s["activations"] + s["head"] + casts
    assert abs(expected - got) <= 0.10 * got, (expected, got)


def test_portulino_fp16_fits_a_t4_at_micro_batch_9_with_checkpointing():
    cfg = GPTConfig.preset("portulino")
    report = plan(cfg, "t4", sequences_per_step=8 * 16, batch_size=8)
    assert report["params"] == param_counts(cfg)["total"] and round(report["params"] / 1e6, 1) == 259.0
    fp16 = report["precisions"]["fp16"]
    assert fp16["fits"] and fp16["checkpointing"] and fp16["max_micro_batch"] >= 9
    at_9 = estimate(cfg, 9, "fp16", checkpointing=True)
    assert at_9["total"] <= 13e9
    assert (
        estimate(cfg, 9, "fp16", checkpointing=False)["total"] > GPUS["t4"].memory_bytes
    )  # why it is needed
    assert fp16["micro_batch"] * fp16["grad_accum"] == 128
    assert fp16["peak_bytes"]["total"] <= HEADROOM * GPUS["t4"].memory_bytes
    assert not report["precisions"]["bf16"]["supported"]  # a T4 is sm75
    text = format_plan(report)
    assert "fp16: micro-batch" in text and "checkpointing on" in text and "bf16: not supported" in text


def test_big_gpus_need_no_checkpointing_and_unknown_gpus_are_refused():
    cfg = GPTConfig.preset("small")
    bf16 = plan(cfg, "a100-80", sequences_per_step=128)["precisions"]["bf16"]
    assert bf16["fits"] and not bf16["checkpointing"] and bf16["micro_batch"] * bf16["grad_accum"] == 128
    with pytest.raises(ValueError, match="unknown GPU 'v100'"):
        plan(cfg, "v100", sequences_per_step=8)
    huge = GPTConfig(vocab_size=32768, n_layer=80, n_head=64, n_kv_head=8, n_embd=8192, seq_len=4096)
    assert not plan(huge, "t4", sequences_per_step=8)["precisions"]["fp16"]["fits"]


def test_device_names_flops_and_mfu():
    assert gpu_key("Tesla T4") == "t4" and gpu_key("NVIDIA A100-SXM4-80GB") == "a100-80"
    assert gpu_key("NVIDIA A100-PCIE-40GB") == "a100-40" and gpu_key("NVIDIA H100 80GB HBM3") == "h100"
    assert (
        gpu_key("NVIDIA H200") == "h200" and gpu_key("NVIDIA L4") == "l4" and gpu_key("Quadro K600") is None
    )
    cfg = GPTConfig.preset("small", seq_len=512)
    n = param_counts(cfg)["total"]
    assert flops_per_token(cfg, n) == 6 * n + 12 * 6 * 8 * 64 * 512
    assert mfu(1e5, cfg, n, 1e15) == pytest.approx(1e5 * flops_per_token(cfg, n) / 1e15)


def test_plan_command_prints_the_plan_and_refuses_bad_input(capsys):
    from garimpo.cli import main as cli_main

    assert cli_main(["train", "--plan", "--config", "portulino", "--gpu", "t4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    fp16 = report["precisions"]["fp16"]
    assert report["gpu"] == "t4" and fp16["checkpointing"] and fp16["max_micro_batch"] >= 9
    assert fp16["config_micro_batch"]["micro_batch"] == 8  # the shipped config's own, estimated as is
    assert cli_main(["train", "--plan", "--config", "small"]) == 0
    text = capsys.readouterr().out
    assert all(GPUS[g].name in text for g in GPUS)
    assert cli_main(["train", "--plan", "--gpu", "v100"]) == 2
    assert "unknown GPU 'v100'; known: t4" in capsys.readouterr().err
    assert cli_main(["train", "--config", "tiny"]) == 2
    assert "needs --shards (or --plan" in capsys.readouterr().err
