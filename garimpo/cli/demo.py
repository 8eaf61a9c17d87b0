"""`garimpo demo` and `garimpo serve`: the commands that run Prefect flows from `flows.py`.

`flows` is a top-level module shipped in the wheel beside the packages, so these work from any
folder after a plain ``pip install``; no path is patched to find it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from garimpo.cli.common import embedded_prefect, store_of
from garimpo.core.html import report_path
from garimpo.core.report import format_table, stage_rows


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("demo", help="run the whole path on the shipped sample corpus through Prefect")
    s.add_argument("--vocab-size", type=int, default=None, help="tokenizer size (default: the demo's)")
    s.add_argument("--max-steps", type=int, default=None, help="override the training config's step count")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="serve the Prefect deployments (same as `python -m flows serve`)")
    s.add_argument("--follow-shards", default=None, help="shards name train/on-new-shards trains on")
    s.add_argument(
        "--on-new-shards",
        choices=["continue", "new"],
        default=None,
        help="continue the latest run or start a new one",
    )
    s.add_argument("--steps", type=int, default=None, help="optimizer steps per new shard version")
    s.add_argument("--config", default=None, help="training config of train/on-new-shards")
    s.set_defaults(func=cmd_serve)


def cmd_demo(args: argparse.Namespace) -> int:
    embedded_prefect()
    from flows import demo

    t0 = time.time()
    given = {"vocab_size": args.vocab_size} if args.vocab_size is not None else {}
    out = demo(artifacts=args.artifacts, max_steps=args.max_steps, **given)
    corpus, shards, result = out["corpus"], out["shards"], out["train"]
    print("\n== garimpo demo summary ==")
    print(format_table(stage_rows(corpus.stats)))
    st = corpus.stats
    print(
        f"documents: in {st['documents_in']}, kept {st['documents_kept']}, rejected {st['documents_rejected']}"
    )
    if "instruct" in shards.stats:
        ins = shards.stats["instruct"]
        print(
            f"instruction conversations rendered with loss masks: {ins['kept']} (skipped {ins['rejected']})"
        )
    sources = shards.extra.get("sources", {})
    print(
        "tokens written: "
        + ", ".join(
            f"{src}/{split} {v['tokens']}"
            for src, sp in sorted(sources.items())
            for split, v in sorted(sp.items())
        )
    )
    print(f"step-0 loss {result['step0_loss']:.4f}; final val loss {result['final_val_loss']:.4f}")
    print(f"sample: {result['prompt']!r} → {result['sample']!r}")
    print("artifacts:")
    print(f"  corpus      {corpus.root}")
    print(f"  tokenizer   {store_of(args).load_ref(shards.parents['tokenizer']).root}")
    print(f"  shards      {shards.root}")
    print(f"  checkpoint  {result['checkpoint_path']}")
    print("reports (open in a browser):")
    print(f"  corpus      {report_path(args.artifacts, corpus.ref).resolve()}")
    run = f"checkpoints/{Path(result['run_dir']).name}"
    print(f"  run         {report_path(args.artifacts, run).resolve()}")
    print(f"wall time {time.time() - t0:.1f} s")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from flows import FollowShards, serve_deployments

    given = {
        "shards": args.follow_shards,
        "policy": args.on_new_shards,
        "steps": args.steps,
        "config": args.config,
    }
    try:
        follow = FollowShards(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        print(f"garimpo serve: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}", file=sys.stderr)
        return 2
    serve_deployments(follow)
    return 0
