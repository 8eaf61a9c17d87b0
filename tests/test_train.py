"""The trainer end to end on a small shards version written in the documented format.

``tests/train_shards.py`` writes ``docs/formats.md`` shards with numpy (tokens from a real byte-level
BPE trained there with ``tokenizers``) and publishes them through ``ArtifactStore.publish``, so these
tests pin the on-disk contract from the reader's side without importing ``pipelines/``.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from garimpo.core import ArtifactError, ArtifactStore, Manifest
from garimpo.core.fs import sha256_file
from garimpo.core.settings import shipped_configs
from model.gpt import GPT, GPTConfig
from tests.train_shards import corpus, publish_shards, small_cfg
from train.checkpoint import load_checkpoint
from train.config import TrainConfig
from train.data import BatchSampler, TokenStream, eval_batches, open_shards
from train.sample import generate_text, load_model
from train.tokenizer import Tokenizer
from train.trainer import train


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus(300)


@pytest.fixture(scope="module")
def shards(store, texts, tokenizer_json) -> Manifest:
    return publish_shards(store, "demo", texts, tokenizer_json)


def test_tokenizer_decodes_like_tokenizers(tokenizer_json):
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer.from_file(str(tokenizer_json))
    tok = Tokenizer(tokenizer_json)
    text = "Ação, coração e pão de queijo: a avó lavou ouro no rio às 5h — çãõ!"
    ids = tok.encode(text)
    assert ids == hf.encode(text, add_special_tokens=False).ids
    assert tok.decode(ids) == hf.decode(ids) == text
    eos = tok.token_to_id("<|endoftext|>")
    assert eos == 0 and tok.decode([*ids, eos]) == text + "<|endoftext|>"
    assert tok.decode([*ids, eos], skip_special_tokens=True) == text


def test_open_shards_by_reference_and_by_folder(store, shards):
    by_ref = open_shards(f"shards/demo/{shards.version}", store.root)
    by_name = open_shards("demo", store.root)
    by_folder = open_shards(shards.root)
    assert by_ref.ref == by_name.ref == by_folder.ref == shards.ref


def test_stream_reads_across_shards_in_document_order(shards, texts, tokenizer_json):
    stream = TokenStream(shards, "train")
    tok = Tokenizer(tokenizer_json)
    first_shard_docs = [i for i in range(len(texts)) if i % 5 != 4][0::2]
    expected = np.concatenate([[*tok.encode(texts[i]), 0] for i in first_shard_docs])
    assert len(stream.tokens) == 2 and stream.n_tokens == sum(
        f.tokens for f in shards.files if f.tokens and "train" in f.path
    )
    boundary = int(stream.starts[1])
    toks, keep = stream.read(boundary - 5, 10)  # straddles the two train shards
    assert toks[:5].tolist() == expected[-5:].tolist()
    assert toks[5:].tolist() == np.asarray(stream.tokens[1][:5]).tolist()
    assert keep.all() and not stream.has_loss_mask


def test_sampler_state_resumes_the_same_batches(shards):
    stream = TokenStream(shards, "train")
    a = BatchSampler({"all": stream}, {"all": 1.0}, 4, 32, seed=1)
    for _ in range(300):  # several epochs, so the state crosses epoch boundaries
        a.next_batch()
    b = BatchSampler({"all": stream}, {"all": 1.0}, 4, 32, seed=1)
    b.load_state_dict(a.state_dict())
    assert a.state_dict()["streams"]["all"]["epoch"] > 0
    for _ in range(5):
        x1, x2 = a.next_batch(), b.next_batch()
        assert torch.equal(x1.x, x2.x) and torch.equal(x1.y, x2.y)
        assert torch.equal(x1.x[:, 1:], x1.y[:, :-1])
    other_seed = BatchSampler({"all": stream}, {"all": 1.0}, 4, 32, seed=2).next_batch()
    assert not torch.equal(
        other_seed.x, BatchSampler({"all": stream}, {"all": 1.0}, 4, 32, seed=1).next_batch().x
    )


def test_val_windows_are_fixed(shards):
    stream = TokenStream(shards, "val")
    one, two = eval_batches(stream, 8, 3, 32), eval_batches(stream, 8, 3, 32)
    assert [b.x.shape[0] for b in one] == [3, 3, 2]
    assert all(torch.equal(p.x, q.x) for p, q in zip(one, two, strict=True))


def test_training_reduces_loss(store, shards):
    cfg = small_cfg(max_steps=40, eval_every=20, checkpoint_every=0)
    result = train(cfg, "shards/demo", store.root, run_name="learns")
    vocab = shards.extra["vocab_size"]
    assert abs(result.step0_loss - math.log(vocab)) < 0.1 * math.log(vocab)
    assert len(result.losses) == result.step == 40
    assert result.final_train_loss < result.step0_loss - 1.5
    assert result.final_val_loss is not None and result.final_val_loss < result.step0_loss - 1.5
    assert result.tokens_seen == 40 * 8 * 64


def test_resume_reproduces_the_uninterrupted_run_exactly(store, shards):
    cfg = small_cfg(max_steps=10, grad_accum=2)
    full = train(cfg, "shards/demo", store.root, run_name="straight")
    first = train(cfg, "shards/demo", store.root, run_name="split", stop_at_step=5)
    assert first.step == 5 and first.checkpoint_path.name == "step_0000005.pt"
    second = train(cfg, "shards/demo", store.root, run_name="split")
    assert first.losses == full.losses[:5]
    assert second.losses == full.losses
    assert second.final_val_loss == full.final_val_loss
    a, b = load_checkpoint(full.checkpoint_path), load_checkpoint(second.checkpoint_path)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    again = train(cfg, "shards/demo", store.root, run_name="split")  # already finished: a no-op
    assert again.step == 10 and again.losses == full.losses


def test_checkpoint_names_its_shards_and_keeps_the_newest(store, shards):
    result = train(small_cfg(max_steps=6, checkpoint_every=2), "shards/demo", store.root, run_name="lineage")
    run = result.run_dir
    assert sorted(p.name for p in run.glob("step_*.pt")) == ["step_0000004.pt", "step_0000006.pt"]
    assert (run / "latest").read_text().strip() == "step_0000006.pt" == result.checkpoint_path.name
    state = torch.load(result.checkpoint_path, weights_only=True)
    assert state["lineage"]["shards"] == [shards.ref] == [result.shards_ref]
    assert state["lineage"]["tokenizer_sha256"] == shards.extra["tokenizer_sha256"]
    assert GPTConfig.from_dict(state["model_config"]).vocab_size == shards.extra["vocab_size"]
    info = json.loads((run / "run.json").read_text())
    assert info["lineage"]["shards"] == [shards.ref] and info["step"] == 6
    assert [s for s, _ in info["losses"]["train"]] == [1, 2, 3, 4, 5, 6]
    assert sha256_file(run / "tokenizer.json") == shards.extra["tokenizer_sha256"]


def test_resume_refuses_a_different_model(store, shards):
    train(small_cfg(max_steps=2), "shards/demo", store.root, run_name="clash")
    wider = small_cfg(max_steps=4, model={"preset": "tiny", "seq_len": 64, "n_embd": 128})
    with pytest.raises(ArtifactError, match="pick another run_name"):
        train(wider, "shards/demo", store.root, run_name="clash")
    with pytest.raises(ArtifactError, match="already holds checkpoints"):
        train(small_cfg(max_steps=4), "shards/demo", store.root, run_name="clash", resume=False)


def test_refuses_a_shard_with_a_flipped_byte(tmp_path, store, shards):
    copy = tmp_path / "copy"
    shutil.copytree(shards.root, copy)
    target = copy / "train_00001.ds"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"train_00001\.ds: sha256 mismatch"):
        train(small_cfg(max_steps=2), copy, tmp_path / "artifacts")
    assert not (tmp_path / "artifacts" / "checkpoints").exists()


def test_loss_mask_is_read_and_masked_steps_stay_finite(tmp_path, texts, tokenizer_json):
    store = ArtifactStore(tmp_path / "artifacts")

    def answers_only(doc: int, n: int) -> np.ndarray:
        flags = np.zeros(n, dtype=np.uint8)
        flags[n // 2 :] = 1  # second half of each document is the "answer"
        return flags

    masked = publish_shards(store, "sft", texts[:100], tokenizer_json, loss_flags=answers_only)
    stream = TokenStream(masked, "train")
    flags = np.fromfile(masked.path_of("train_00000.ds.loss"), dtype=np.uint8)
    _, _, keep = stream.window(10, 40)
    assert stream.has_loss_mask and keep.tolist() == (flags[11:51] == 1).tolist()
    assert 0 < keep.sum() < len(keep)

    nothing = publish_shards(
        store, "silent", texts[:100], tokenizer_json, loss_flags=lambda d, n: np.zeros(n, np.uint8)
    )
    result = train(small_cfg(max_steps=3, grad_accum=2), f"shards/silent/{nothing.version}", store.root)
    assert result.losses == [0.0, 0.0, 0.0]
    model, _ = load_model(result.checkpoint_path)
    assert all(torch.isfinite(p).all() for p in model.parameters())

    answers = train(small_cfg(max_steps=3), "shards/sft", store.root)
    assert all(math.isfinite(v) and v > 0 for v in answers.losses)


def test_time_budget_stops_with_a_resumable_checkpoint(store, shards):
    cfg = small_cfg(max_steps=10_000, time_budget_minutes=1e-8)
    result = train(cfg, "shards/demo", store.root, run_name="budget")
    assert result.step < 10 and result.checkpoint_path.is_file()
    assert load_checkpoint(result.run_dir)["step"] == result.step


def test_generate_text_from_a_trained_run(store, shards):
    result = train(small_cfg(max_steps=40, checkpoint_every=0), "shards/demo", store.root, run_name="sampler")
    greedy = generate_text(result.run_dir, "A menina", max_new_tokens=30, temperature=0)
    assert isinstance(greedy, str) and greedy.strip()
    assert greedy == generate_text(result.checkpoint_path, "A menina", max_new_tokens=30, temperature=0)
    sampled = generate_text(result.run_dir, "O pescador", max_new_tokens=30, seed=3)
    assert sampled == generate_text(result.run_dir, "O pescador", max_new_tokens=30, seed=3)
    model, _ = load_model(result.run_dir)
    assert isinstance(model, GPT) and not model.training


def test_shipped_configs_parse():
    for name in shipped_configs("train"):
        cfg = TrainConfig.from_toml(name)
        assert cfg.model_config(cfg.model.get("vocab_size", 32000)).seq_len == cfg.model["seq_len"]
    assert set(shipped_configs("train")) >= {"tiny", "small", "portulino"}


def test_tiny_config_trains_on_cpu(store, shards):
    cfg = TrainConfig.from_toml("tiny")
    cfg.device = "cpu"
    result = train(cfg, "shards/demo", store.root, run_name="tiny-config")
    assert result.step == cfg.max_steps and result.final_val_loss is not None
    assert result.final_train_loss < result.step0_loss - 1.0


def test_unknown_config_keys_are_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\npreset = "tiny"\n[train]\nlearning_rate = 0.1\n')
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_toml(bad)
    bad.write_text('[model]\npreset = "tiny"\nn_layers = 3\n')
    with pytest.raises(ValueError, match="n_layers"):
        TrainConfig.from_toml(bad)
