"""The `garimpo` command: every capability from a terminal, with `--help` on each subcommand.

Curation commands import `pipelines/` lazily and training commands import `train/` lazily, so
`garimpo train` works on a box that installed only `garimpo[train]`. `garimpo demo` runs the main
job through Prefect (its embedded SQLite-backed API when no server is configured).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from garimpo.artifacts_cli import register as register_artifacts
from garimpo.core import ArtifactError, ArtifactStore
from garimpo.report import format_table, stage_rows
from train.cli import register as register_training

ROOT = Path(__file__).resolve().parents[1]


def _store(args: argparse.Namespace) -> ArtifactStore:
    return ArtifactStore(args.artifacts)


def _quiet_datatrove() -> None:
    """datatrove prints every executor's full stats table to stderr (its per-stage stats.json keeps
    them); silence it unless GARIMPO_VERBOSE is set."""
    if os.environ.get("GARIMPO_VERBOSE"):
        return
    try:
        from loguru import logger
    except ImportError:
        return
    logger.disable("datatrove")


def cmd_demo(args: argparse.Namespace) -> int:
    _quiet_datatrove()
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    from flows import demo

    t0 = time.time()
    out = demo(artifacts=args.artifacts, vocab_size=args.vocab_size, max_steps=args.max_steps)
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
    print(f"  tokenizer   {ArtifactStore(args.artifacts).load_ref(shards.parents['tokenizer']).root}")
    print(f"  shards      {shards.root}")
    print(f"  checkpoint  {result['checkpoint_path']}")
    print(f"wall time {time.time() - t0:.1f} s")
    return 0


def cmd_sample_corpus(args: argparse.Namespace) -> int:
    from pipelines.sample_corpus import write_sample_corpus

    info = write_sample_corpus(Path(args.out), seed=args.seed, n_docs=args.n_docs)
    print(json.dumps(info, indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipelines.sources import SourceSpec, write_jsonl

    spec = SourceSpec(path=args.path, format=args.format, name=args.source_name, license=args.license)
    counts = write_jsonl([spec], args.out)
    print(json.dumps(counts, indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_instruct(args: argparse.Namespace) -> int:
    from pipelines.instruct import load_instruct_recipe, publish_instructions

    recipe = load_instruct_recipe(Path(args.recipe)) if args.recipe else load_instruct_recipe()
    if args.languages:
        recipe.languages = args.languages
    m = publish_instructions(_store(args), args.name, [Path(p) for p in args.inputs], recipe)
    print(format_table(stage_rows(m.stats)))
    print(f"published {m.ref} at {m.root}")
    return 0


def cmd_curate(args: argparse.Namespace) -> int:
    _quiet_datatrove()
    from pipelines.curate import publish_corpus
    from pipelines.executors import ExecutorConfig
    from pipelines.recipe import load_recipe

    store = _store(args)
    m = publish_corpus(
        store,
        args.name,
        [Path(p) for p in args.inputs],
        load_recipe(args.recipe) if args.recipe else load_recipe(),
        workers=args.workers,
        dedup_against=[store.load_ref(ref) for ref in args.dedup_against],
        executor=ExecutorConfig(kind=args.executor, ray_address=args.ray_address),
    )
    print(format_table(stage_rows(m.stats)))
    print(f"published {m.ref} at {m.root}")
    return 0


def cmd_tokenizer(args: argparse.Namespace) -> int:
    from pipelines.tokenizer import publish_tokenizer

    store = _store(args)
    m = publish_tokenizer(store, args.name, store.load_ref(args.corpus), args.vocab_size)
    print(f"published {m.ref} at {m.root} (vocab {m.extra.get('vocab_size')})")
    return 0


def cmd_shards(args: argparse.Namespace) -> int:
    from pipelines.shards import build_shards

    store = _store(args)
    m = build_shards(
        store,
        args.name,
        store.load_ref(args.corpus),
        store.load_ref(args.tokenizer),
        instruct=store.load_ref(args.instruct) if args.instruct else None,
        mix=json.loads(args.mix) if args.mix else None,
        mix_seed=args.mix_seed,
        val_fraction=args.val_fraction,
        max_tokens_per_shard=args.max_tokens_per_shard,
        workers=args.workers,
    )
    print(json.dumps(m.extra.get("splits", {}), indent=2))
    print(f"published {m.ref} at {m.root}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from flows import serve_deployments

    serve_deployments()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="garimpo", description=__doc__.split("\n")[0])
    p.add_argument(
        "--artifacts", default=os.environ.get("GARIMPO_ARTIFACTS", "artifacts"), help="artifact root"
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("demo", help="run the whole path on the shipped sample corpus through Prefect")
    s.add_argument("--vocab-size", type=int, default=2048)
    s.add_argument("--max-steps", type=int, default=None, help="override the tiny config's step count")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("sample-corpus", help="write the deterministic sample corpus")
    s.add_argument("out", help="output folder")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--n-docs", type=int, default=400)
    s.set_defaults(func=cmd_sample_corpus)

    s = sub.add_parser("curate", help="curate JSONL sources into a published corpus version")
    s.add_argument("inputs", nargs="+", help="JSONL files (id, text, source)")
    s.add_argument("--name", default="default")
    s.add_argument("--recipe", default=None, help="recipe TOML (default configs/recipes/pt.toml)")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument(
        "--dedup-against", nargs="*", default=[], help="earlier corpus versions this batch must not duplicate"
    )
    s.add_argument("--executor", choices=["local", "ray"], default="local", help="where stages run")
    s.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local instance)")
    s.set_defaults(func=cmd_curate)

    s = sub.add_parser("ingest", help="read a declared source (html, pdf, wiki, ...) into curation JSONL")
    s.add_argument("path", help="file, folder or glob")
    s.add_argument("--format", required=True, help="jsonl, parquet, text, html, warc, pdf or wiki")
    s.add_argument("--source-name", required=True, help="name recorded in every document's source")
    s.add_argument("--license", default="unknown")
    s.add_argument("--out", required=True, help="output JSONL (rejections go beside it)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("instruct", help="validate instruction data and publish the kept conversations")
    s.add_argument("inputs", nargs="+", help="Alpaca, ShareGPT, messages, OASST, GSM8K, Dolly files")
    s.add_argument("--name", default="default")
    s.add_argument("--recipe", default=None, help="recipe TOML (default configs/recipes/instruct.toml)")
    s.add_argument("--languages", nargs="*", default=None, help="override the recipe's languages")
    s.set_defaults(func=cmd_instruct)

    s = sub.add_parser("tokenizer", help="train a byte-level BPE tokenizer on a corpus version")
    s.add_argument("--corpus", required=True, help="corpus/<name>[/<version>]")
    s.add_argument("--name", default="default")
    s.add_argument("--vocab-size", type=int, default=32000)
    s.set_defaults(func=cmd_tokenizer)

    s = sub.add_parser("shards", help="tokenize a corpus version into uint16 shards")
    s.add_argument("--corpus", required=True, help="corpus/<name>[/<version>]")
    s.add_argument("--tokenizer", required=True, help="tokenizer/<name>[/<version>]")
    s.add_argument("--instruct", default=None, help="instruct/<name>[/<version>]: rendered with loss masks")
    s.add_argument("--name", default="default")
    s.add_argument(
        "--mix", default=None, help='per-source weights as JSON, e.g. \'{"livros": 3, "forum": 0.5}\''
    )
    s.add_argument("--mix-seed", type=int, default=0)
    s.add_argument("--val-fraction", type=float, default=0.05)
    s.add_argument("--max-tokens-per-shard", type=int, default=50_000_000)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_shards)

    register_training(sub)  # train, generate, export: torch only, imported when run
    register_artifacts(sub)
    try:  # curation-side command; absent on a trainer-only install (garimpo[train])
        from pipelines.stages.quality_model import register as register_quality
    except ImportError:
        pass
    else:
        register_quality(sub)

    s = sub.add_parser("serve", help="serve the Prefect deployments (same as `python flows.py serve`)")
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ArtifactError as e:
        print(f"garimpo: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions, missing files: a message, not a traceback
        print(f"garimpo: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
