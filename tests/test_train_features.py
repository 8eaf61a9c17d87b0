"""Trainer features beyond the basic loop: Muon, schedules, checkpoint policy, lineage over shards
versions, per-source evaluation with bits per byte, source mixing, logs, chat generation and export.

Shards are written in the documented format by the helpers of ``tests/train_shards.py`` (a text source
and an instruct source with loss masks in one version).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import struct
import zlib

import numpy as np
import pytest
import torch

from garimpo.cli import main as cli_main
from garimpo.core import ArtifactError
from model.gpt import GPT
from tests.train_shards import OBJECTS, SUBJECTS, VERBS, corpus, publish_shards, small_cfg
from train.checkpoint import load_checkpoint
from train.data import BatchSampler, TokenStream
from train.optim import lr_factor, orthogonalize
from train.sample import generate_text, load_model
from train.tokenizer import Tokenizer
from train.trainer import train


def conversations(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s, v, o = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
        out.append((f"O que {s.lower()} {v}?", f"{s} {v} {o}."))
    return out


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus(250, seed=1)


@pytest.fixture(scope="module")
def mixed(store, texts, tokenizer_json):
    return publish_shards(store, "mixed", texts, tokenizer_json, conversations=conversations(300))


def test_orthogonalize_gives_singular_values_near_one():
    torch.manual_seed(0)
    for shape in [(32, 96), (96, 32)]:
        g = torch.randn(*shape) * torch.logspace(-1, 0, shape[1])  # uneven singular values
        assert torch.linalg.cond(g) > 4
        s = torch.linalg.svdvals(orthogonalize(g))
        assert orthogonalize(g).shape == g.shape
        assert s.min() > 0.5 and s.max() < 1.3, s  # the quintic iteration lands in about [0.7, 1.2]


def test_wsd_schedule_warms_up_holds_then_decays_linearly():
    cfg = small_cfg(schedule="wsd", max_steps=100, warmup_steps=10, decay_frac=0.2, min_lr_ratio=0.1)
    f = [lr_factor(s, cfg) for s in range(100)]
    assert f[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f[10:80] == [1.0] * 70
    decay = f[80:]
    assert all(a > b for a, b in itertools.pairwise(decay))
    assert decay[-1] == pytest.approx(0.1) and decay[9] == pytest.approx(1 - 0.9 * 10 / 20)
    cosine = [lr_factor(s, small_cfg(max_steps=100, warmup_steps=10)) for s in range(100)]
    assert cosine[10] == pytest.approx(1.0) and cosine[55] == pytest.approx(0.55) and cosine[-1] > 0.1


def test_muon_trains_and_resumes_exactly(store, mixed):
    cfg = small_cfg(optimizer="muon", muon_lr=0.05, max_steps=16, eval_every=0, checkpoint_every=0)
    full = train(cfg, mixed.ref, store.root, run_name="muon-full")
    assert full.final_train_loss < full.step0_loss - 1.5
    train(cfg, mixed.ref, store.root, run_name="muon-split", stop_at_step=7)
    resumed = train(cfg, mixed.ref, store.root, run_name="muon-split")
    assert resumed.losses == full.losses
    state = load_checkpoint(resumed.checkpoint_path)
    groups = state["optimizer"]["param_groups"]
    assert [g["use_muon"] for g in groups] == [True, False]
    buffers = [s for s in state["optimizer"]["state"].values() if "momentum_buffer" in s]
    assert len(buffers) == len(groups[0]["params"]) == 2 * 7  # q,k,v,o,gate,up,down per layer
    with pytest.raises(ValueError, match="optimizer must be"):
        small_cfg(optimizer="sgd")


def test_checkpoint_policy_keeps_last_k_and_best(store, mixed):
    cfg = small_cfg(
        max_steps=12, eval_every=2, checkpoint_every=0, checkpoint_minutes=1e-9, keep_checkpoints=3
    )
    result = train(cfg, mixed.ref, store.root, run_name="policy")
    run = result.run_dir
    # every step is past the (tiny) checkpoint interval: a checkpoint per step, the newest 3 kept
    assert sorted(p.name for p in run.glob("step_*.pt")) == [f"step_{s:07d}.pt" for s in (10, 11, 12)]
    best = load_checkpoint(run / "best.pt")
    val = dict((int(s), v) for s, v in load_checkpoint(run)["history"]["val"])
    assert best["best_val"] == min(val.values()) == result.best_val_loss
    assert best["step"] == min(val, key=val.get)
    assert json.loads((run / "run.json").read_text())["best_val_loss"] == result.best_val_loss


def test_new_shards_version_extends_the_lineage(store, mixed, texts, tokenizer_json):
    cfg = small_cfg(max_steps=4, eval_every=0)
    first = train(cfg, mixed.ref, store.root, run_name="grows")
    newer = publish_shards(store, "mixed", texts + corpus(50, seed=9), tokenizer_json)
    longer = small_cfg(max_steps=8, eval_every=0)
    with pytest.raises(ArtifactError, match="allow new shards"):
        train(longer, f"shards/mixed/{newer.version}", store.root, run_name="grows")
    grown = train(
        longer, f"shards/mixed/{newer.version}", store.root, run_name="grows", allow_new_shards=True
    )
    assert grown.step == 8 and grown.losses[:4] == first.losses
    assert load_checkpoint(grown.run_dir)["lineage"]["shards"] == [mixed.ref, newer.ref]
    child = train(
        cfg, f"shards/mixed/{newer.version}", store.root, run_name="child", continue_from=grown.run_dir
    )
    lineage = load_checkpoint(child.run_dir)["lineage"]
    assert lineage["shards"] == [mixed.ref, newer.ref, newer.ref]
    assert lineage["continued_from"] == str(grown.run_dir)
    assert child.step == 4 and child.step0_loss < first.step0_loss - 0.5  # starts from trained weights


def test_validation_per_source_with_bits_per_byte(store, mixed, tokenizer_json):
    result = train(small_cfg(eval_windows=6), mixed.ref, store.root, run_name="bpb", stop_at_step=0)
    val = result.val
    assert set(val["sources"]) == {"text", "instruct"}
    text, instruct = val["sources"]["text"], val["sources"]["instruct"]
    assert text["tokens"] == 6 * 64  # no mask on text
    assert 0 < instruct["tokens"] < 6 * 64  # questions are masked out
    # an untrained model spends about ln(vocab) nats on every token; bytes per token measured
    # independently with the tokenizers package's decoder on the val text tokens
    from tokenizers import Tokenizer as HFTokenizer

    hf, vocab = HFTokenizer.from_file(str(tokenizer_json)), mixed.extra["vocab_size"]
    toks = TokenStream(mixed, "val", "text").read(0, 6 * 64 + 1)[0][1:]
    text_toks = [int(t) for t in toks if int(t) >= 16]  # ids 0..15 are the special tokens
    bytes_per_token = sum(len(hf.decode([t]).encode()) for t in text_toks) / len(text_toks)
    expected = math.log(vocab) / (math.log(2) * bytes_per_token)
    assert text["bpb"] == pytest.approx(expected, rel=0.12)
    assert val["loss"] == pytest.approx(
        (text["loss"] * text["tokens"] + instruct["loss"] * instruct["tokens"])
        / (text["tokens"] + instruct["tokens"])
    )


def test_mix_weights_draw_sources_in_proportion_and_resume(store, mixed):
    streams = {s: TokenStream(mixed, "train", s) for s in ("text", "instruct")}
    weights = {"text": 3.0, "instruct": 1.0}
    a = BatchSampler(streams, weights, 8, 32, seed=4)
    batches = [a.next_batch() for _ in range(60)]
    masked = sum(int((~b.loss_mask).any(dim=1).sum()) for b in batches)  # instruct windows hide prompts
    assert 0.17 < masked / (60 * 8) < 0.33
    b = BatchSampler(streams, weights, 8, 32, seed=4)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.next_batch().x, b.next_batch().x) for _ in range(5))
    only_text = BatchSampler(streams, {"text": 1.0, "instruct": 0.0}, 8, 32, seed=4)
    assert all(only_text.next_batch().loss_mask.all() for _ in range(20))

    result = train(small_cfg(max_steps=3, mix=weights), mixed.ref, store.root, run_name="mixed-run")
    info = json.loads((result.run_dir / "run.json").read_text())
    assert info["mix"]["text"]["weight"] == 3.0 and info["mix"]["instruct"]["weight"] == 1.0
    assert info["train_config"]["mix"] == weights
    with pytest.raises(ArtifactError, match="no train tokens from source"):
        train(small_cfg(mix={"web": 1.0}), mixed.ref, store.root, run_name="bad-mix")


def test_logs_metrics_png_and_eval_samples(store, mixed):
    cfg = small_cfg(max_steps=10, log_every=2, eval_prompts=["A menina"], eval_sample_tokens=8)
    run = train(cfg, mixed.ref, store.root, run_name="logged").run_dir
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["kind"] == "train"] == [2, 4, 6, 8, 10]
    vals = [e for e in events if e["kind"] == "val"]
    assert [e["step"] for e in vals] == [5, 10] and all(e["sources"]["text"]["bpb"] > 0 for e in vals)
    samples = [e for e in events if e["kind"] == "samples"]
    assert len(samples) == 2 and samples[0]["samples"][0]["prompt"] == "A menina"
    assert isinstance(samples[0]["samples"][0]["text"], str)
    png = (run / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    idat = png.index(b"IDAT")
    (length,) = struct.unpack(">I", png[idat - 4 : idat])
    raw = zlib.decompress(png[idat + 4 : idat + 4 + length])
    assert len(raw) == height * (1 + 3 * width)
    assert len(set(raw)) > 3  # axes, curve and background, not a blank canvas


def test_chat_generation_uses_the_template_and_stops_at_a_new_turn(store, mixed):
    result = train(small_cfg(max_steps=20, checkpoint_every=0), mixed.ref, store.root, run_name="chat")
    answer = generate_text(
        result.run_dir, "O que a menina encontrou?", max_new_tokens=20, temperature=0, chat=True
    )
    model, _ = load_model(result.run_dir)
    tok = Tokenizer(result.run_dir / "tokenizer.json")
    eos, query, ans = (tok.token_to_id(t) for t in ("<|endoftext|>", "<|query|>", "<|answer|>"))
    ids = [eos, query, *tok.encode("O que a menina encontrou?"), ans]
    new = model.generate(ids, 20, temperature=0, stop_token={eos, query})
    assert answer == tok.decode(new, skip_special_tokens=True)
    assert new[-1] in (eos, query) or len(new) == 20
    plain = generate_text(result.run_dir, "O que a menina encontrou?", max_new_tokens=20, temperature=0)
    assert isinstance(plain, str)


def test_export_command_writes_a_loadable_llama(store, mixed, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("safetensors")
    result = train(small_cfg(max_steps=6, eval_every=2), mixed.ref, store.root, run_name="exported")
    out = tmp_path / "hf"
    assert (
        cli_main(
            [
                "--artifacts",
                str(store.root),
                "export",
                "--run",
                str(result.run_dir),
                "--out",
                str(out),
                "--best",
            ]
        )
        == 0
    )
    info = json.loads((out / "garimpo.json").read_text())
    assert info["lineage"]["shards"] == [mixed.ref]
    best, _ = load_model(result.run_dir / "best.pt")
    assert info["step"] == load_checkpoint(result.run_dir / "best.pt")["step"]
    hf = transformers.LlamaForCausalLM.from_pretrained(out).eval()
    x = torch.randint(0, mixed.extra["vocab_size"], (1, 16))
    with torch.no_grad():
        assert torch.allclose(best(x)[0], hf(x).logits, atol=1e-4)
    assert isinstance(best, GPT) and np.isfinite(info["tokens_seen"])
