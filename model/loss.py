"""The output head and its cross-entropy in row chunks, so fp32 ``[B, T, vocab]`` log-probs never exist.

At a 32k vocabulary the head's logits are the largest activation of the network: kept in fp32 with
their log-softmax for the backward pass they cost ~141 KB per token, more than two transformer layers.
``linear_cross_entropy`` computes the loss and its gradients chunk by chunk in one pass (the approach
of Liger-Kernel's fused linear cross-entropy): for each chunk of rows it forms the logits in the
compute dtype, takes the log-sum-exp in fp32, and turns them at once into ``softmax - onehot``, from
which the gradients of the hidden states and of the head matrix follow. Only those gradients (one
``[N, D]`` and one ``[V, D]`` fp32 tensor) are kept for backward; a chunk's logits live only while it
is processed. The FLOPs equal the plain head's (forward and backward matmuls, no recomputation).

Under fp16 the ``softmax - onehot`` rows are cast unweighted (values in [-1, 1]) and the per-token
weights (``1 / kept targets``) are applied in fp32 afterwards, so they never underflow fp16.
``token_nats`` is the no-grad sibling for evaluation: per-token losses, chunk by chunk.
"""

from __future__ import annotations

import torch

CHUNK_BYTES = 128 * 2**20  # fp32 logits of one chunk: 1024 rows at a 32k vocabulary
MIN_CHUNK_ROWS = 128


def chunk_rows(vocab_size: int) -> int:
    """Rows of hidden states per chunk, so one chunk's fp32 logits take about ``CHUNK_BYTES``."""
    return max(MIN_CHUNK_ROWS, CHUNK_BYTES // (4 * vocab_size))


def _compute_dtype(h: torch.Tensor) -> torch.dtype:
    """The autocast dtype when autocast is on for ``h``'s device, else ``h``'s own dtype."""
    kind = h.device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return h.dtype


def _chunk_logits(hc: torch.Tensor, w: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """fp32 logits of one chunk, their log-sum-exp and the per-row nats of ``targets``."""
    logits = (hc @ w.T).float()
    lse = torch.logsumexp(logits, dim=-1)
    nats = lse - logits.gather(1, targets[:, None]).squeeze(1)
    return logits, lse, nats


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, targets, token_weights, dtype):
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        rows = chunk_rows(weight.size(0))
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        scale = token_weights.max().clamp(min=torch.finfo(torch.float32).tiny)
        w = weight.to(dtype)
        with torch.autocast(h.device.type, enabled=False):
            for start in range(0, h.size(0), rows):
                end = min(start + rows, h.size(0))
                hc, tc, wc = h[start:end].to(dtype), targets[start:end], token_weights[start:end]
                logits, lse, nats = _chunk_logits(hc, w, tc)
                total += (nats * wc).sum()
                if not (need_h or need_w):
                    continue
                g = logits.sub_(lse[:, None]).exp_()  # softmax, in place of the logits
                g[torch.arange(end - start, device=g.device), tc] -= 1.0
                g.mul_((wc / scale)[:, None])  # relative weights in [0, 1]: no fp16 underflow
                g = g.to(dtype)
                if need_h:
                    grad_h[start:end] = ((g @ w).float() * scale).to(h.dtype)
                if need_w:
                    grad_w.add_((g.T @ hc).float())
        if need_w:
            grad_w.mul_(scale)  # once, as a tensor: no host sync per chunk
        ctx.save_for_backward(grad_h, grad_w)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        gh = grad_h * grad_out.to(grad_h.dtype) if grad_h is not None else None
        gw = grad_w * grad_out if grad_w is not None else None
        return gh, gw, None, None, None


def linear_cross_entropy(
    h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, token_weights: torch.Tensor
) -> torch.Tensor:
    """``sum_i token_weights[i] * CE(h[i] @ weight.T, targets[i])`` for ``h [N, D]``, ``weight [V, D]``.

    Gradients flow to ``h`` and ``weight`` (fp32, the dtype of the weights); the matmuls run in the
    autocast dtype when autocast is on.
    """
    return _LinearCrossEntropy.apply(h, weight, targets, token_weights.float(), _compute_dtype(h))


@torch.no_grad()
def token_nats(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row cross-entropy (nats, fp32) of ``h [N, D] @ weight.T`` against ``targets [N]``."""
    dtype = _compute_dtype(h)
    w, rows = weight.to(dtype), chunk_rows(weight.size(0))
    out = torch.empty(h.size(0), dtype=torch.float32, device=h.device)
    with torch.autocast(h.device.type, enabled=False):
        for start in range(0, h.size(0), rows):
            end = min(start + rows, h.size(0))
            out[start:end] = _chunk_logits(h[start:end].to(dtype), w, targets[start:end])[2]
    return out
