"""Batched decoding with one KV cache, and the sampling edge cases (top_k=0, top_p=0, seed=None)."""

from __future__ import annotations

import torch

from model.generate import KVCache, sample_next
from model.gpt import GPT, GPTConfig


def decisive_model(seed: int = 7) -> GPT:
    torch.manual_seed(seed)
    m = GPT(GPTConfig.preset("tiny", vocab_size=64, seq_len=64)).eval()
    with torch.no_grad():  # large random weights: varied, decisive greedy picks
        for p in m.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.2)
    return m


def test_batched_prompts_of_different_lengths_equal_one_by_one():
    m = decisive_model()
    prompts = [[1, 5, 9, 2], [7], [3, 3, 8, 1, 2, 6, 4]]
    batched = m.generate_batch(prompts, 20, temperature=0)
    alone = [m.generate(p, 20, temperature=0, use_cache=False) for p in prompts]
    assert batched == alone
    assert all(len(row) == 20 for row in batched) and len({tuple(r) for r in batched}) == 3


def test_batched_rows_stop_on_their_own():
    m = decisive_model()
    prompts = [[1, 5, 9, 2], [7, 3]]
    free = m.generate_batch(prompts, 15, temperature=0)
    stop = free[0][2]
    stopped = m.generate_batch(prompts, 15, temperature=0, stop_token=stop)
    assert stopped[0] == free[0][: free[0].index(stop) + 1]
    second = free[1][: free[1].index(stop) + 1] if stop in free[1] else free[1]
    assert stopped[1] == second


def test_decode_steps_reuse_the_key_mask_instead_of_building_one():
    cfg = GPTConfig.preset("tiny")
    padded = KVCache(cfg, 2, 10, torch.device("cpu"), torch.float32, pad=[2, 0])
    first = padded.mask(4)
    assert first.shape == (2, 1, 4, 4) and not first[0, 0, 3, :2].any() and first[0, 0, 0, 0]
    padded.pos = 4
    step = padded.mask(1)
    assert step.shape == (2, 1, 1, 5) and step.data_ptr() == padded.valid.data_ptr()  # a view
    plain = KVCache(cfg, 1, 10, torch.device("cpu"), torch.float32)
    plain.pos = 4
    assert plain.mask(1) is None and plain.valid is None
    assert padded.positions(1).tolist() == [[2], [4]]


def test_sampling_edge_cases_are_defined():
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[0.1, 3.0, 0.2, -1.0]])
    draws = {int(sample_next(logits, 5.0, 0, None, gen)) for _ in range(200)}
    assert len(draws) == 4  # top_k = 0 keeps every token (it used to raise IndexError)
    for _ in range(20):  # top_p = 0 keeps only the likeliest token (it used to give NaN)
        assert sample_next(logits, 1.0, None, 0.0, gen).tolist() == [1]
    m = decisive_model()
    fresh = {tuple(m.generate([3, 4], 12, temperature=2.0, seed=None)) for _ in range(4)}
    assert len(fresh) > 1  # seed=None draws a new seed each time
    assert m.generate([3, 4], 12, temperature=2.0, seed=3) == m.generate([3, 4], 12, temperature=2.0, seed=3)
