"""The memory planner: will a config fit a GPU, at which micro-batch, and how fast could it run.

``plan(cfg, gpu)`` estimates, for each precision, the peak memory of a training step by part and picks
the largest micro-batch that fits, with or without per-block activation checkpointing, plus the
gradient accumulation that keeps the config's tokens per optimizer step. The trainer uses the same
figures for ``activation_checkpointing = "auto"`` and for MFU (``PEAK_FLOPS``).

The parts of the peak (bytes; ``p`` = 2 under bf16/fp16 autocast, 4 in fp32; N parameters):

- weights ``4N`` and gradients ``4N`` (fp32 master copies in every precision);
- optimizer: AdamW ``8N``; Muon ``4`` per block-matrix parameter (momentum) and ``8`` for the rest;
- weight casts: autocast keeps a ``p``-byte copy of every block matrix for the step (0 in fp32);
- activations: what autograd saves per token and layer, counted tensor by tensor from
  ``model/gpt.py`` (fp32 residual and both RMSNorm outputs, the cast norm outputs, q/k before and
  after RoPE, the attention inputs after the GQA repeat, its output and log-sum-exp, the SwiGLU
  tensors); with checkpointing only each block's fp32 input is kept, plus one block recomputed
  during backward;
- logits: the head of ``model/loss.py`` keeps fp32 ``[N, D]`` and ``[V, D]`` gradients and forms
  one chunk of logits at a time (``p + 4 + p`` bytes per logit of a chunk);
- a fixed reserve for the CUDA allocator's fragmentation and cuBLAS workspaces.

A plan fills at most ``HEADROOM`` of the GPU's memory, so an estimate 10% short still fits.

``tests/test_planner.py`` checks the activation and logits figures against the bytes autograd really
saves (saved-tensor hooks on CPU, within 10%). The CUDA context itself (a few hundred MB) lies
outside the allocator and outside these figures, as outside ``set_per_process_memory_fraction``.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.gpt import GPTConfig
from model.loss import chunk_rows
from train.config import TrainConfig

GIB = 2**30
RESERVE_BYTES = GIB // 2  # allocator fragmentation, cuBLAS workspaces, the NCCL buffers of one GPU
HEADROOM = 0.9  # plans fill at most this share of a GPU's memory: room for the estimate's error


@dataclass(frozen=True)
class GPU:
    """A GPU model: usable memory, compute capability and dense peak FLOP/s per precision."""

    name: str
    memory_bytes: int
    capability: tuple[int, int]
    peak_flops: dict[str, float]  # "fp32" (TF32 tensor cores where present), "bf16", "fp16"


GPUS: dict[str, GPU] = {
    "t4": GPU("Tesla T4 (15 GB)", 15 * 10**9, (7, 5), {"fp32": 8.1e12, "fp16": 65e12}),
    "l4": GPU("NVIDIA L4 (24 GB)", 22 * GIB, (8, 9), {"fp32": 60e12, "bf16": 121e12, "fp16": 121e12}),
    "a100-40": GPU("NVIDIA A100 40GB", 39 * GIB, (8, 0), {"fp32": 156e12, "bf16": 312e12, "fp16": 312e12}),
    "a100-80": GPU("NVIDIA A100 80GB", 79 * GIB, (8, 0), {"fp32": 156e12, "bf16": 312e12, "fp16": 312e12}),
    "h100": GPU("NVIDIA H100 SXM 80GB", 79 * GIB, (9, 0), {"fp32": 494e12, "bf16": 989e12, "fp16": 989e12}),
    "h200": GPU("NVIDIA H200 141GB", 139 * GIB, (9, 0), {"fp32": 494e12, "bf16": 989e12, "fp16": 989e12}),
}
PRECISIONS = ("fp32", "bf16", "fp16")
MIN_PLAIN_MICRO_BATCH = 8  # below this many sequences, recomputing blocks buys a better batch


def gpu_key(device_name: str) -> str | None:
    """The ``GPUS`` key of a CUDA device name (``torch.cuda.get_device_name``), or None if unknown."""
    name = device_name.lower()
    if "a100" in name:
        return "a100-80" if "80g" in name else "a100-40"
    for key in ("h200", "h100", "l4", "t4"):
        if key in name:
            return key
    return None


def flops_per_token(cfg: GPTConfig, n_params: int) -> int:
    """Training FLOPs per token, ``6N + 12·L·H·Q·T`` (PaLM/nanoGPT; the tied head counted once)."""
    return 6 * n_params + 12 * cfg.n_layer * cfg.n_head * cfg.head_dim * cfg.seq_len


def mfu(tokens_per_s: float, cfg: GPTConfig, n_params: int, peak_flops: float) -> float:
    """Model FLOPs utilization: achieved training FLOP/s over the hardware's peak."""
    return tokens_per_s * flops_per_token(cfg, n_params) / peak_flops


def param_counts(cfg: GPTConfig) -> dict[str, int]:
    """Parameters by kind: block matrices, embedding (tied with the head) and norm gains."""
    attn = cfg.n_embd * cfg.head_dim * (2 * cfg.n_head + 2 * cfg.n_kv_head)
    mlp = 3 * cfg.n_embd * cfg.hidden_dim
    matrices = cfg.n_layer * (attn + mlp)
    embedding = cfg.vocab_size * cfg.n_embd
    norms = (2 * cfg.n_layer + 1) * cfg.n_embd
    return {
        "matrices": matrices,
        "embedding": embedding,
        "norms": norms,
        "total": matrices + embedding + norms,
    }


def layer_bytes_per_token(cfg: GPTConfig, p: int) -> int:
    """Bytes autograd saves per token in one block (``p`` = 2 under autocast, 4 in fp32)."""
    d, hq, f = cfg.n_embd, cfg.n_head * cfg.head_dim, cfg.hidden_dim
    # each RMSNorm keeps its fp32 input, x * rsqrt and the rsqrt; its output is kept as the cast
    # the projections read (autocast) or, in fp32, as itself
    norms = 2 * (8 * d + 4 + p * d) if p < 4 else 2 * (12 * d + 4)
    attn = 5 * p * hq + 4 * cfg.n_head  # SDPA's q, repeated k and v, output; o_proj input; lse
    mlp = 4 * p * f  # gate, silu(gate), up, their product
    return norms + attn + mlp


def layer_bytes_per_micro_batch(cfg: GPTConfig, p: int) -> int:
    """Bytes one block saves once per micro-batch: the RoPE tables cast for q and k under autocast."""
    return 4 * cfg.seq_len * cfg.head_dim * p if p < 4 else 0


def saved_bytes(cfg: GPTConfig, micro_batch: int, precision: str, checkpointing: bool) -> dict[str, int]:
    """What autograd holds for backward once the forward is done: ``activations`` and ``head``.

    With checkpointing this is what the step keeps between its forward and backward (each block's
    input); the weight casts are counted separately in ``estimate``.
    """
    p = 4 if precision == "fp32" else 2
    tokens = micro_batch * cfg.seq_len
    if checkpointing:
        blocks = tokens * cfg.n_layer * 4 * cfg.n_embd
    else:
        per_layer = tokens * layer_bytes_per_token(cfg, p) + layer_bytes_per_micro_batch(cfg, p)
        blocks = cfg.n_layer * per_layer
    # token ids; the final norm's input, x * rsqrt and rsqrt; the hidden states' and head's gradients
    head = tokens * (8 + 12 * cfg.n_embd + 4) + 4 * cfg.vocab_size * cfg.n_embd
    return {"activations": blocks + tokens * 8, "head": head}


def estimate(
    cfg: GPTConfig, micro_batch: int, precision: str, checkpointing: bool, optimizer: str = "adamw"
) -> dict[str, int]:
    """Estimated peak bytes of one training step by part, and their ``total``."""
    p = 4 if precision == "fp32" else 2
    n = param_counts(cfg)
    tokens = micro_batch * cfg.seq_len
    saved = saved_bytes(cfg, micro_batch, precision, checkpointing)
    activations = saved["activations"]
    if checkpointing:  # plus one block's activations while backward recomputes it
        activations += tokens * layer_bytes_per_token(cfg, p) + layer_bytes_per_micro_batch(cfg, p)
    rows = min(tokens, chunk_rows(cfg.vocab_size))
    logits = saved["head"] + rows * cfg.vocab_size * (4 + 2 * p)  # one chunk: logits, fp32 copy, grad
    logits += p * n["embedding"] if p < 4 else 0  # the head matrix cast to the compute dtype
    opt = 8 * n["total"] if optimizer != "muon" else 4 * n["matrices"] + 8 * (n["embedding"] + n["norms"])
    parts = {
        "weights": 4 * n["total"],
        "grads": 4 * n["total"],
        "optimizer": opt,
        "weight_casts": p * n["matrices"] if p < 4 else 0,
        "activations": activations,
        "logits": logits,
        "reserve": RESERVE_BYTES,
    }
    return {**parts, "total": sum(parts.values())}


def largest_micro_batch(
    cfg: GPTConfig,
    budget: int,
    precision: str,
    checkpointing: bool,
    optimizer: str = "adamw",
    cap: int = 4096,
) -> int:
    """The largest micro-batch whose estimated peak fits ``budget`` bytes (0 when none does)."""
    lo, hi = 0, cap
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate(cfg, mid, precision, checkpointing, optimizer)["total"] <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def choose(
    cfg: GPTConfig, budget: int, precision: str, sequences_per_step: int, optimizer: str = "adamw"
) -> dict:
    """Checkpointing, micro-batch and accumulation for one precision under ``budget`` bytes.

    Checkpointing stays off when the largest micro-batch without it reaches
    ``MIN_PLAIN_MICRO_BATCH`` sequences (or the whole step). The micro-batch is the largest that fits
    and divides the step's sequences, so the tokens per optimizer step stay the config's exactly.
    """
    plain = largest_micro_batch(cfg, budget, precision, False, optimizer)
    checkpointing = plain < min(sequences_per_step, MIN_PLAIN_MICRO_BATCH)
    top = largest_micro_batch(cfg, budget, precision, True, optimizer) if checkpointing else plain
    if top == 0:
        return {"fits": False, "checkpointing": checkpointing, "max_micro_batch": 0}
    micro = max(b for b in range(1, min(top, sequences_per_step) + 1) if sequences_per_step % b == 0)
    return {
        "fits": True,
        "checkpointing": checkpointing,
        "max_micro_batch": top,
        "micro_batch": micro,
        "grad_accum": sequences_per_step // micro,
        "peak_bytes": estimate(cfg, micro, precision, checkpointing, optimizer),
        "max_micro_batch_peak_bytes": estimate(cfg, top, precision, checkpointing, optimizer)["total"],
    }


def plan(
    model_cfg: GPTConfig,
    gpu: str,
    sequences_per_step: int,
    optimizer: str = "adamw",
    batch_size: int | None = None,
) -> dict:
    """The whole plan for one GPU: parameters, FLOPs/token, and per precision the choice and its parts.

    ``batch_size`` (the config's micro-batch), when given, is also estimated as is, with and without
    checkpointing, so the report says whether the config runs unchanged.
    """
    if gpu not in GPUS:
        raise ValueError(f"unknown GPU {gpu!r}; known: {', '.join(GPUS)}")
    g = GPUS[gpu]
    counts = param_counts(model_cfg)
    out: dict = {
        "gpu": gpu,
        "gpu_name": g.name,
        "memory_bytes": g.memory_bytes,
        "params": counts["total"],
        "flops_per_token": flops_per_token(model_cfg, counts["total"]),
        "tokens_per_step": sequences_per_step * model_cfg.seq_len,
        "precisions": {},
    }
    for precision in PRECISIONS:
        if precision not in g.peak_flops:
            why = f"needs compute capability 8.0, {gpu} has {g.capability[0]}.{g.capability[1]}"
            out["precisions"][precision] = {"supported": False, "why": why}
            continue
        budget = int(g.memory_bytes * HEADROOM)
        entry = {"supported": True, **choose(model_cfg, budget, precision, sequences_per_step, optimizer)}
        if batch_size is not None:
            entry["config_micro_batch"] = {
                "micro_batch": batch_size,
                "peak_bytes": estimate(model_cfg, batch_size, precision, False, optimizer)["total"],
                "peak_bytes_checkpointing": estimate(model_cfg, batch_size, precision, True, optimizer)[
                    "total"
                ],
            }
        entry["peak_flops"] = g.peak_flops[precision]
        out["precisions"][precision] = entry
    return out


def needs_checkpointing(
    cfg: GPTConfig, micro_batch: int, precision: str, budget: int, optimizer: str
) -> bool:
    """True when ``micro_batch`` does not fit ``budget`` bytes without activation checkpointing."""
    return estimate(cfg, micro_batch, precision, False, optimizer)["total"] > budget


def format_plan(report: dict) -> str:
    """The plan as a few readable lines (GB = 10^9 bytes)."""
    gb = 1e9
    lines = [
        f"{report['gpu_name']}: {report['memory_bytes'] / gb:.1f} GB; model {report['params'] / 1e6:.1f} M "
        f"parameters, {report['flops_per_token'] / 1e9:.2f} GFLOP/token, {report['tokens_per_step']} tokens/step"
    ]
    for precision, e in report["precisions"].items():
        if not e["supported"]:
            lines.append(f"  {precision}: not supported ({e['why']})")
            continue
        if not e["fits"]:
            lines.append(f"  {precision}: does not fit, even one sequence with checkpointing")
            continue
        parts = e["peak_bytes"]
        detail = ", ".join(f"{k} {v / gb:.2f}" for k, v in parts.items() if k != "total")
        lines.append(
            f"  {precision}: micro-batch {e['micro_batch']} x grad_accum {e['grad_accum']} "
            f"(largest fitting {e['max_micro_batch']}), checkpointing {'on' if e['checkpointing'] else 'off'}, "
            f"peak {parts['total'] / gb:.2f} GB = {detail}"
        )
        if "config_micro_batch" in e:
            c = e["config_micro_batch"]
            lines.append(
                f"      the config's micro-batch {c['micro_batch']}: {c['peak_bytes'] / gb:.2f} GB, "
                f"{c['peak_bytes_checkpointing'] / gb:.2f} GB with checkpointing"
            )
    return "\n".join(lines)


def plan_config(cfg: TrainConfig, gpu: str, model_cfg: GPTConfig | None = None, world_size: int = 1) -> dict:
    """``plan`` for a training config; ``model_cfg`` defaults to its preset's (vocabulary included)."""
    if model_cfg is None:  # the preset's own vocabulary unless the config sets one
        model_cfg = cfg.model_config(GPTConfig.preset(cfg.model.get("preset", "tiny")).vocab_size)
    sequences = cfg.batch_size * cfg.grad_accum * world_size
    return plan(model_cfg, gpu, sequences, cfg.optimizer, batch_size=cfg.batch_size)


def plan_rows(cfg: TrainConfig, model_cfg: GPTConfig | None = None) -> list[dict]:
    """One row per GPU and supported precision: the choice and its peak (a table for reports)."""
    rows = []
    for gpu in GPUS:
        report = plan_config(cfg, gpu, model_cfg)
        for precision, e in report["precisions"].items():
            if not e["supported"]:
                continue
            rows.append(
                {
                    "gpu": gpu,
                    "precision": precision,
                    "fits": e["fits"],
                    "checkpointing": e["checkpointing"],
                    "micro_batch": e.get("micro_batch", 0),
                    "grad_accum": e.get("grad_accum", 0),
                    "peak_gb": round(e["peak_bytes"]["total"] / 1e9, 2) if e["fits"] else None,
                }
            )
    return rows
