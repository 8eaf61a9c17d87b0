"""The chunked head + cross-entropy and per-block checkpointing: same loss and gradients, less memory."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model import loss as head_loss
from model.gpt import GPT, GPTConfig


def model_of(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig.preset("tiny", **overrides)).train()


def reference_loss(m: GPT, x, y, mask=None):
    """The plain head: full fp32 logits and F.cross_entropy (what model.loss replaces)."""
    logits = m.lm_head(m.hidden(x)).float()
    per_token = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    if mask is None:
        return per_token.mean()
    keep = mask.flatten().float()
    return (per_token * keep).sum() / keep.sum().clamp(min=1.0)


def grads(m: GPT, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    m.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.clone() for n, p in m.named_parameters()}


@pytest.mark.parametrize("masked", [False, True])
def test_chunked_loss_and_gradients_equal_the_plain_head(monkeypatch, masked):
    monkeypatch.setattr(head_loss, "CHUNK_BYTES", 4 * 300 * 7)  # several chunks, the last one partial
    monkeypatch.setattr(head_loss, "MIN_CHUNK_ROWS", 1)
    m = model_of(vocab_size=300)
    x, y = torch.randint(0, 300, (3, 10)), torch.randint(0, 300, (3, 10))
    mask = (torch.rand(3, 10) > 0.4) if masked else None
    assert head_loss.chunk_rows(300) == 7
    _, loss = m(x, y, mask)
    ref = reference_loss(m, x, y, mask)
    assert torch.allclose(loss, ref, atol=1e-5)
    got, want = grads(m, loss), grads(m, ref)
    for name, g in want.items():
        assert torch.allclose(got[name], g, atol=1e-6, rtol=1e-4), name
    nats = m.token_losses(x, y)
    assert nats.shape == (3, 10)
    assert torch.allclose(nats.mean(), reference_loss(m, x, y), atol=1e-5)


def test_scaled_backward_and_bf16_autocast_stay_close():
    m = model_of(vocab_size=256)
    x, y = torch.randint(0, 256, (2, 16)), torch.randint(0, 256, (2, 16))
    _, loss = m(x, y)
    plain = grads(m, loss)
    _, loss = m(x, y)
    scaled = grads(m, loss * 1024.0)  # what a GradScaler does: the gradient scales with the output
    for name, g in plain.items():
        assert torch.allclose(scaled[name], g * 1024.0, rtol=1e-4, atol=1e-7), name
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, low = m(x, y)
    assert low.dtype == torch.float32 and abs(float(low.detach()) - float(loss.detach())) < 0.05


def test_block_checkpointing_gives_the_same_gradients_and_saves_less():
    m = model_of(vocab_size=200, n_layer=3)
    x, y = torch.randint(0, 200, (2, 32)), torch.randint(0, 200, (2, 32))
    _, loss = m(x, y)
    plain = grads(m, loss)
    m.checkpointing = True
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, loss_ckpt = m(x, y)
    stored = sum(saved)
    saved.clear()
    m.checkpointing = False
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x, y)
    assert stored < 0.6 * sum(saved)
    m.checkpointing = True
    assert torch.equal(loss_ckpt.detach(), loss.detach())
    for name, g in grads(m, loss_ckpt).items():
        assert torch.allclose(g, plain[name], atol=1e-6), name


def test_checkpointing_leaves_inference_alone():
    m = model_of(vocab_size=100).eval()
    x = torch.randint(0, 100, (1, 8))
    plain, _ = m(x)
    m.checkpointing = True
    assert torch.equal(m(x)[0], plain)
    assert m.generate([1, 2, 3], 5, temperature=0) == m.generate([1, 2, 3], 5, temperature=0, use_cache=False)
