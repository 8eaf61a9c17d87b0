"""Evaluation commands: ``eval`` (one model) and ``ablate`` (does curation pay, on your sources?).

``garimpo eval`` runs the suite of ``train/eval_suite.py`` directly on a run folder, a checkpoint or an
HF export folder and prints a table (or ``--json``); the result is also saved beside the checkpoint.
``garimpo ablate`` runs the ``data-ablation`` flow of ``flows.py`` through Prefect (its embedded API
when no server is configured), as ``garimpo demo`` does. Both import what they need lazily.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from garimpo.cli.common import embedded_prefect


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``NAME=PATH`` options as a dict; a value without ``=`` is named after its file."""
    out = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = os.path.splitext(os.path.basename(value))[0], value
        if not name or not path:
            raise SystemExit(f"garimpo: {option} expects NAME=PATH, got {value!r}")
        out[name] = path
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from garimpo.core.report import format_table
    from train.eval_suite import evaluate_model, load_eval_settings, result_rows
    from train.eval_text import jsonl_set

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = load_eval_settings(args.config)
    settings = base.replace(
        enem={**base.enem, **_pairs(args.enem, "--enem")},
        harness=True if args.harness else None,
        max_items=args.max_items,
        device=args.device,
    )
    heldout = _pairs(args.heldout, "--heldout")
    if all(p.endswith(".jsonl") for p in heldout.values()):
        sets = [jsonl_set(name, p, settings.text_field) for name, p in heldout.items()]
    else:  # Parquet files and corpus versions are read with the curation readers (garimpo[curate])
        from flows import heldout_sets

        sets = heldout_sets(heldout, args.artifacts, settings.text_field)
    result = evaluate_model(args.run, settings, args.artifacts, extra_sets=sets)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(format_table(result_rows(result)))
    print(f"result: {result['path']}")
    return 0


def _source(value: str) -> dict[str, str]:
    fmt, sep, rest = value.partition(":")
    name, sep2, path = rest.partition(":")
    if not (sep and sep2 and fmt and name and path):
        raise SystemExit(f"garimpo: --source expects FORMAT:NAME:PATH, got {value!r}")
    return {"format": fmt, "name": name, "path": path}


def cmd_ablate(args: argparse.Namespace) -> int:
    embedded_prefect()
    from pydantic import ValidationError

    from flows import AblationParams, data_ablation

    given = {
        k: v
        for k, v in {
            "recipe": args.recipe,
            "config": args.config,
            "eval_config": args.eval_config,
            "vocab_size": args.vocab_size,
            "max_steps": args.max_steps,
            "seeds": args.seeds,
        }.items()
        if v is not None
    }
    try:
        params = AblationParams(
            name=args.name,
            inputs=args.inputs,
            sources=[_source(s) for s in args.source or []],
            heldout=_pairs(args.heldout, "--heldout"),
            ablate_stages=args.ablate_stages,
            workers=args.workers,
            artifacts=args.artifacts,
            **given,
        )
    except ValidationError as e:  # e.g. one seed: a spread needs at least two
        errors = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        print(f"garimpo: {errors}", file=sys.stderr)
        return 2
    out = data_ablation(params)
    if args.json:
        print(json.dumps({"summary": out["summary"], "report": out["report"]}, ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "eval", help="evaluate a run, checkpoint or HF export (bpb, ENEM, cloze, contamination)"
    )
    s.add_argument("--run", required=True, help="run folder, checkpoint file or HF export folder")
    s.add_argument("--config", default="default", help="eval settings: shipped name or TOML path")
    s.add_argument(
        "--heldout",
        action="append",
        help="NAME=PATH of clean text: JSONL, Parquet or corpus/<name>[/<version>]",
    )
    s.add_argument("--enem", action="append", help="NAME=PATH of a gpt-4-enem .json/.jsonl file")
    s.add_argument("--harness", action="store_true", help="also score ENEM with lm-evaluation-harness")
    s.add_argument("--max-items", type=int, default=None, help="per multiple-choice task (0 = all)")
    s.add_argument("--device", default=None, help="cpu, cuda, ... (default: the eval settings')")
    s.add_argument("--json", action="store_true", help="print the whole result as one JSON line")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser(
        "ablate", help="train equal-budget models on raw vs curated data and compare (Prefect)"
    )
    s.add_argument("inputs", nargs="*", help="JSONL files; 'sample' writes and uses the sample corpus")
    s.add_argument("--source", action="append", help="declared source FORMAT:NAME:PATH (html, pdf, ...)")
    s.add_argument("--heldout", action="append", required=True, help="NAME=PATH of clean held-out text")
    s.add_argument("--name", default="ablation", help="prefix of every artifact the ablation publishes")
    s.add_argument("--recipe", default=None, help="the curated variant's recipe (default: pt)")
    s.add_argument("--ablate-stages", action="store_true", help="one more variant per stage, that stage off")
    s.add_argument("--config", default=None, help="training config for every run (default: tiny)")
    s.add_argument("--eval-config", default=None, help="eval settings for every run (default: default)")
    s.add_argument("--max-steps", type=int, default=None)
    s.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=None, help="e.g. 0,1,2")
    s.add_argument("--vocab-size", type=int, default=None, help="shared tokenizer size")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    s.set_defaults(func=cmd_ablate)
