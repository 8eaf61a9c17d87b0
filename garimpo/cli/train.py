"""Trainer commands: ``train``, ``generate`` and ``export``.

They need only ``garimpo[train]`` (torch, numpy): on a GPU box ``garimpo train ...`` or, for several
processes, ``torchrun --nproc_per_node N -m garimpo train ...``. Handlers import torch lazily so
``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def cmd_plan(args: argparse.Namespace, cfg) -> int:
    """``garimpo train --plan``: the memory plan of the config on one GPU (or every known one)."""
    from train.data import open_shards
    from train.plan import GPUS, format_plan, plan_config

    model_cfg = None
    if args.shards:  # the shards fix the vocabulary; without them the preset's is used
        model_cfg = cfg.model_config(open_shards(args.shards, args.artifacts).extra["vocab_size"])
    try:
        reports = [plan_config(cfg, gpu, model_cfg) for gpu in ([args.gpu] if args.gpu else GPUS)]
    except ValueError as e:  # an unknown GPU name
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(reports[0] if args.gpu else reports))
    else:
        print("\n".join(format_plan(r) for r in reports))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from train.config import DEFAULT_CONFIG, TrainConfig
    from train.trainer import train

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = TrainConfig.from_toml(
        args.config or DEFAULT_CONFIG, max_steps=args.max_steps, time_budget_minutes=args.time_budget_minutes
    )
    if args.plan:
        return cmd_plan(args, cfg)
    if not args.shards:
        print("error: garimpo train needs --shards (or --plan to only estimate memory)", file=sys.stderr)
        return 2
    r = train(
        cfg,
        args.shards,
        artifacts_root=args.artifacts,
        run_name=args.run_name,
        resume=not args.fresh,
        stop_at_step=args.stop_at_step,
        allow_new_shards=args.allow_new_shards,
        continue_from=args.continue_from,
    )
    if args.json:
        rank = int(os.environ.get("RANK", "0"))
        fields = {"rank": rank, "step": r.step, "losses": r.losses, "final_val_loss": r.final_val_loss}
        print(json.dumps({**fields, "checkpoint": str(r.checkpoint_path), "lineage": r.lineage}))
        return 0
    val = "n/a" if r.final_val_loss is None else f"{r.final_val_loss:.4f}"
    print(f"trained on {r.shards_ref}: step {r.step}, step-0 loss {r.step0_loss:.4f}, final val loss {val}")
    print(f"checkpoint {r.checkpoint_path}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from train.sample import generate_text

    text = generate_text(
        args.run,
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        device=args.device,
        chat=args.chat,
        system=args.system,
    )
    print(text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from train.export import export_run

    out = export_run(args.run, args.out, best=args.best, dtype=args.dtype)
    print(f"exported {args.run} to {out} (Hugging Face LlamaForCausalLM layout)")
    return 0


def _seed(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the trainer's subcommands; handlers read ``args.artifacts`` (the artifact root)."""
    s = subparsers.add_parser("train", help="train a model on a shard version (resumes when a run exists)")
    s.add_argument("--shards", default=None, help="shards/<name>[/<version>] or a version folder")
    s.add_argument(
        "--config", default=None, help="shipped config (tiny, small, portulino) or TOML path (default: tiny)"
    )
    s.add_argument("--run-name", default=None)
    s.add_argument("--max-steps", type=int, default=None)
    s.add_argument("--stop-at-step", type=int, default=None, help="stop early with a checkpoint")
    s.add_argument("--time-budget-minutes", type=float, default=None, help="stop cleanly before this")
    s.add_argument("--fresh", action="store_true", help="refuse to resume an existing run")
    s.add_argument(
        "--allow-new-shards", action="store_true", help="continue this run on a newer shards version"
    )
    s.add_argument("--continue-from", default=None, help="start a new run from this run or checkpoint")
    s.add_argument("--json", action="store_true", help="print the result as one JSON line")
    s.add_argument("--plan", action="store_true", help="only print the memory plan (nothing is trained)")
    s.add_argument(
        "--gpu", default=None, help="GPU of --plan: t4, l4, a100-80, h100... (default: every known one)"
    )
    s.set_defaults(func=cmd_train)
    s = subparsers.add_parser("generate", help="generate text from a training run or checkpoint")
    s.add_argument("--run", required=True, help="run folder or checkpoint file")
    s.add_argument("--prompt", default="O Brasil é")
    s.add_argument("--chat", action="store_true", help="answer the prompt as a user turn")
    s.add_argument("--system", default=None, help="system prompt (with --chat)")
    s.add_argument("--max-new-tokens", type=int, default=60)
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=50)
    s.add_argument("--top-p", type=float, default=0.95)
    s.add_argument("--seed", type=_seed, default=0, help="sampling seed; 'none' for a fresh one each call")
    s.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda, cuda:1...")
    s.set_defaults(func=cmd_generate)
    s = subparsers.add_parser("export", help="export a run to the Hugging Face Llama layout")
    s.add_argument("--run", required=True, help="run folder or checkpoint file")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--best", action="store_true", help="export best.pt instead of the latest checkpoint")
    s.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32", help="weights' dtype")
    s.set_defaults(func=cmd_export)
