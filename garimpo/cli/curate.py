"""Curation commands: `sample-corpus`, `ingest`, `instruct`, `curate` and `quality-classifier`.

Each handler imports `pipelines/` when it runs, so the parser (and `garimpo --help`) works on a
trainer-only install, where these commands then say what is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from garimpo.cli.common import quiet_datatrove, store_of
from garimpo.core.report import format_table, stage_rows

FASTTEXT_OPTIONS = (
    ("--epoch", "epoch", int),
    ("--dim", "dim", int),
    ("--word-ngrams", "wordNgrams", int),
    ("--lr", "lr", float),
    ("--bucket", "bucket", int),
    ("--seed", "seed", int),
)


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("sample-corpus", help="write the deterministic sample corpus")
    s.add_argument("out", help="output folder")
    s.add_argument("--seed", type=int, default=None, help="generator seed (default: the demo's)")
    s.add_argument("--n-docs", type=int, default=None, help="documents to write (default: the demo's)")
    s.set_defaults(func=cmd_sample_corpus)

    s = sub.add_parser("curate", help="curate JSONL sources into a published corpus version")
    s.add_argument("inputs", nargs="+", help="JSONL files (id, text, source)")
    s.add_argument("--name", default="default")
    s.add_argument("--recipe", default=None, help="shipped recipe name or TOML path (default: pt)")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument(
        "--dedup-against", nargs="*", default=[], help="earlier corpus versions this batch must not duplicate"
    )
    s.add_argument("--executor", choices=["local", "ray", "slurm"], default="local", help="where the phases run")
    s.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local instance)")
    s.add_argument("--slurm-partition", default=None, help="Slurm partition (with --executor slurm)")
    s.add_argument("--slurm-time", default="24:00:00", help="Slurm time limit per task (default: 24:00:00)")
    s.add_argument(
        "--work-dir",
        default=None,
        help="keep the phases' files here: a killed run started again resumes from its finished tasks; "
        "on Ray or Slurm across machines, a folder every node sees (default: a temporary folder)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bars on stderr")
    s.set_defaults(func=cmd_curate)

    s = sub.add_parser("ingest", help="read a declared source (html, pdf, wiki, ...) into curation JSONL")
    s.add_argument("path", help="file, folder or glob")
    s.add_argument("--format", required=True, help="jsonl, parquet, text, html, warc, pdf, wiki or epub")
    s.add_argument("--source-name", required=True, help="name recorded in every document's source")
    s.add_argument("--license", default="unknown")
    s.add_argument("--out", required=True, help="output JSONL (rejections go beside it)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("instruct", help="validate instruction data and publish the kept conversations")
    s.add_argument("inputs", nargs="+", help="Alpaca, ShareGPT, messages, OASST, GSM8K, Dolly files")
    s.add_argument("--name", default="default")
    s.add_argument("--recipe", default=None, help="shipped recipe name or TOML path (default: instruct)")
    s.add_argument("--languages", nargs="*", default=None, help="override the recipe's languages")
    s.set_defaults(func=cmd_instruct)

    parser = sub.add_parser("quality-classifier", help="train a fastText quality model (DCLM-style)")
    actions = parser.add_subparsers(dest="quality_action", required=True)
    s = actions.add_parser("train", help="train on files of good (positive) and other (negative) text")
    s.add_argument("--positive", type=Path, nargs="+", required=True, help="text to keep: .txt or .jsonl")
    s.add_argument("--negative", type=Path, nargs="+", required=True, help="text to drop: .txt or .jsonl")
    s.add_argument("--out", type=Path, required=True, help="model file to write (.bin)")
    # Defaults live in pipelines.stages.quality_model.DEFAULT_PARAMS; only options given are passed.
    for flag, param, kind in FASTTEXT_OPTIONS:
        s.add_argument(flag, type=kind, default=None, dest=param, help=f"fastText {param}")
    s.set_defaults(func=cmd_quality_train)


def cmd_sample_corpus(args: argparse.Namespace) -> int:
    from pipelines.sample_corpus import write_sample_corpus

    given = {k: v for k, v in (("seed", args.seed), ("n_docs", args.n_docs)) if v is not None}
    info = write_sample_corpus(Path(args.out), **given)
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

    recipe = load_instruct_recipe(args.recipe) if args.recipe else load_instruct_recipe()
    if args.languages:
        recipe.languages = args.languages
    m = publish_instructions(store_of(args), args.name, [Path(p) for p in args.inputs], recipe)
    print(format_table(stage_rows(m.stats)))
    print(f"published {m.ref} at {m.root}")
    return 0


def cmd_curate(args: argparse.Namespace) -> int:
    quiet_datatrove()
    from pipelines.curate import publish_corpus
    from pipelines.executors import ExecutorConfig
    from pipelines.progress import progress_enabled
    from pipelines.recipe import load_recipe

    try:
        executor = ExecutorConfig(
            kind=args.executor,
            ray_address=args.ray_address,
            slurm_partition=args.slurm_partition,
            slurm_time=args.slurm_time,
        )
    except ValueError as e:
        print(f"garimpo curate: {e}", file=sys.stderr)
        return 2
    store = store_of(args)
    m = publish_corpus(
        store,
        args.name,
        [Path(p) for p in args.inputs],
        load_recipe(args.recipe) if args.recipe else load_recipe(),
        workers=args.workers,
        work_dir=Path(args.work_dir) if args.work_dir else None,
        dedup_against=[store.load_ref(ref) for ref in args.dedup_against],
        executor=executor,
        show_progress=progress_enabled(args.quiet, sys.stderr),
    )
    print(format_table(stage_rows(m.stats)))
    if not m.stats.get("documents_kept"):
        print(f"nothing was kept: all {m.stats.get('documents_in', 0)} input documents were rejected (see above)")
    print(f"published {m.ref} at {m.root}")
    return 0


def cmd_quality_train(args: argparse.Namespace) -> int:
    """Train, save, print the model path and its SHA-256."""
    from garimpo.core.fs import sha256_file
    from pipelines.stages.quality_model import read_examples, train_quality_classifier

    given = {param: getattr(args, param) for _, param, _ in FASTTEXT_OPTIONS if getattr(args, param) is not None}
    path = train_quality_classifier(
        (t for p in args.positive for t in read_examples(p)),
        (t for p in args.negative for t in read_examples(p)),
        args.out,
        **given,
    )
    print(json.dumps({"model": str(path), "sha256": sha256_file(path)}))
    return 0
