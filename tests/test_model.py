"""The network: shapes, GQA head layout, RoPE convention, initial loss, KV cache, tied weights, masks."""

from __future__ import annotations

import json
import math

import pytest
import torch

from model.gpt import GPT, GPTConfig, KVCache, apply_rope, rope_tables


def tiny(**overrides) -> GPTConfig:
    return GPTConfig.preset("tiny", **overrides)


def model_of(cfg: GPTConfig, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(cfg).eval()


def test_forward_shapes_and_loss():
    cfg = tiny(vocab_size=300)
    m = model_of(cfg)
    x = torch.randint(0, 300, (2, 16))
    none, loss = m(x, x)
    assert none is None  # with targets the [B, T, vocab] logits are never formed
    assert loss.shape == () and torch.isfinite(loss)
    logits, none = m(x)
    assert none is None and logits.shape == (2, 16, 300)
    reference = torch.nn.functional.cross_entropy(logits.view(-1, 300), x.view(-1))
    assert torch.allclose(loss, reference, atol=1e-5)


def test_too_long_sequence_is_refused():
    m = model_of(tiny(seq_len=8))
    with pytest.raises(ValueError, match="exceeds seq_len"):
        m(torch.zeros(1, 9, dtype=torch.long))


def test_config_validation_and_json_roundtrip():
    cfg = GPTConfig.preset("portulino")
    assert (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.n_kv_head, cfg.seq_len, cfg.vocab_size) == (
        20, 1024, 16, 4, 1024, 32768,
    )  # fmt: skip
    assert GPTConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="multiple of n_kv_head"):
        GPTConfig(n_head=6, n_kv_head=4, n_embd=96)
    with pytest.raises(ValueError, match="unknown GPTConfig keys"):
        GPTConfig.from_dict({"n_layers": 2})


def test_gqa_equals_full_attention_with_repeated_kv_heads():
    """KV head j must serve query heads j*rep..(j+1)*rep-1 (HF repeat_kv), checked against plain MHA."""
    gqa_cfg = tiny(vocab_size=100, n_head=4, n_kv_head=2)
    mha_cfg = tiny(vocab_size=100, n_head=4, n_kv_head=4)
    gqa, mha = model_of(gqa_cfg), model_of(mha_cfg, seed=1)
    state = gqa.state_dict()
    hd, rep = gqa_cfg.head_dim, gqa_cfg.n_head // gqa_cfg.n_kv_head
    for key, w in list(state.items()):
        if key.endswith(("k_proj.weight", "v_proj.weight")):
            heads = w.view(gqa_cfg.n_kv_head, hd, -1)
            state[key] = heads.repeat_interleave(rep, dim=0).reshape(-1, w.size(1))
    mha.load_state_dict(state)
    x = torch.randint(0, 100, (2, 12))
    assert torch.allclose(gqa(x)[0], mha(x)[0], atol=1e-5)
    assert gqa.layers[0].self_attn.k_proj.weight.shape == (2 * hd, gqa_cfg.n_embd)


def test_rope_rotate_half_matches_complex_rotation():
    """rotate_half RoPE = rotating the complex number (x[i], x[i + D/2]) by pos * theta^(-2i/D)."""
    D, T, theta = 16, 10, 10000.0
    x = torch.randn(1, 2, T, D, dtype=torch.float64)
    cos, sin = rope_tables(D, T, theta)
    got = apply_rope(x, cos.double(), sin.double())
    inv_freq = theta ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    z = torch.complex(x[..., : D // 2], x[..., D // 2 :]) * torch.polar(torch.ones_like(angle), angle)
    expected = torch.cat((z.real, z.imag), dim=-1)
    assert torch.allclose(got.double(), expected, atol=1e-6)


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_initial_loss_is_near_uniform(preset):
    cfg = GPTConfig.preset(preset, seq_len=64)
    m = model_of(cfg)
    x = torch.randint(0, cfg.vocab_size, (4, 64))
    y = torch.randint(0, cfg.vocab_size, (4, 64))
    with torch.no_grad():
        _, loss = m(x, y)
    assert abs(float(loss) - math.log(cfg.vocab_size)) < 0.1 * math.log(cfg.vocab_size)


def test_tied_embeddings_share_storage():
    a, b = model_of(tiny(vocab_size=200)), model_of(tiny(vocab_size=200), seed=3)
    assert a.lm_head.weight is a.embed_tokens.weight
    b.load_state_dict(a.state_dict())
    assert b.lm_head.weight.data_ptr() == b.embed_tokens.weight.data_ptr()
    assert torch.equal(b.lm_head.weight, a.embed_tokens.weight)
    counted_twice = sum(p.numel() for _, p in b.named_parameters(remove_duplicate=False))
    assert b.num_params() == counted_twice - 200 * b.cfg.n_embd


def test_loss_mask_keeps_only_marked_targets():
    m = model_of(tiny(vocab_size=50))
    x, y = torch.randint(0, 50, (2, 8)), torch.randint(0, 50, (2, 8))
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, 3:] = True
    mask[1, :2] = True
    _, loss = m(x, y, mask)
    logits, _ = m(x)
    per_token = torch.nn.functional.cross_entropy(logits.view(-1, 50), y.view(-1), reduction="none")
    assert torch.allclose(loss, per_token[mask.view(-1)].mean())


def test_fully_masked_batch_gives_zero_loss_and_zero_grads():
    m = model_of(tiny(vocab_size=50)).train()
    x = torch.randint(0, 50, (2, 8))
    _, loss = m(x, x, torch.zeros(2, 8, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() and not g.any() for g in grads)


def test_chunked_prefill_with_cache_equals_full_forward():
    m = model_of(tiny(vocab_size=100))
    x = torch.randint(0, 100, (1, 11))
    full, _ = m(x)
    cache = KVCache(m.cfg, 1, 11, torch.device("cpu"), torch.float32)
    first, _ = m(x[:, :5], cache=cache)
    second, _ = m(x[:, 5:8], cache=cache)  # several new queries against a non-empty cache
    third, _ = m(x[:, 8:], cache=cache)
    assert cache.pos == 11
    assert torch.allclose(torch.cat((first, second, third), dim=1), full, atol=1e-5)


def test_greedy_generation_with_cache_equals_without():
    m = model_of(tiny(vocab_size=64, seq_len=64), seed=7)
    with torch.no_grad():  # large random weights: decisive, varied picks instead of near-uniform logits
        for p in m.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.2)
    prompt = [1, 5, 9, 2]
    cached = m.generate(prompt, 40, temperature=0)
    plain = m.generate(prompt, 40, temperature=0, use_cache=False)
    assert len(cached) == 40 and cached == plain
    assert len(set(cached)) > 10


def test_seeded_sampling_is_reproducible_and_filters_apply():
    m = model_of(tiny(vocab_size=64, seq_len=64), seed=7)
    prompt = [3, 4]
    a = m.generate(prompt, 30, temperature=1.0, seed=11)
    assert a == m.generate(prompt, 30, temperature=1.0, seed=11)
    assert a == m.generate(prompt, 30, temperature=1.0, seed=11, use_cache=False)
    assert a != m.generate(prompt, 30, temperature=1.0, seed=12)
    greedy = m.generate(prompt, 30, temperature=0)
    assert m.generate(prompt, 30, temperature=1.0, top_k=1, seed=5) == greedy
    assert m.generate(prompt, 30, temperature=1.0, top_p=1e-6, seed=5) == greedy


def test_generation_stops_at_stop_token_and_checks_length():
    m = model_of(tiny(vocab_size=64, seq_len=32), seed=7)
    greedy = m.generate([1, 2], 20, temperature=0)
    stop = greedy[3]
    out = m.generate([1, 2], 20, temperature=0, stop_token=stop)
    assert out == greedy[: greedy.index(stop) + 1]
    with pytest.raises(ValueError, match="exceeds seq_len"):
        m.generate([1, 2], 31)


def test_hf_export_gives_the_same_logits(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("safetensors")
    from model.export_hf import export_hf

    m = model_of(tiny(vocab_size=96, n_head=4, n_kv_head=2, seq_len=32), seed=5)
    with torch.no_grad():  # non-trivial norm gains, so a mixed-up norm would show
        for layer in m.layers:
            layer.input_layernorm.weight.uniform_(0.5, 1.5)
        m.norm.weight.uniform_(0.5, 1.5)
    export_hf(m, tmp_path / "hf", eos_id=0)
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf").eval()
    x = torch.randint(0, 96, (2, 20))
    with torch.no_grad():
        ours, theirs = m(x)[0], hf(x).logits
    assert torch.allclose(ours, theirs, atol=1e-4)
    assert hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()
