"""`garimpo report REF`: (re)write the HTML report of a corpus version or a training run, and say where.

A run's report needs only the run folder (``train.report``); a corpus report reads the version's
parquet files (``pipelines.reports``, in ``garimpo[curate]``), so it is imported only when asked for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from garimpo.cli.common import store_of
from garimpo.core.lineage import is_run, load_run


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report REF [--out PATH]``."""
    s = sub.add_parser("report", help="(re)write the HTML report of a corpus version or a training run")
    s.add_argument("ref", help="corpus/<name>[/<version>], checkpoints/<run>, or a version or run folder")
    s.add_argument("--out", type=Path, default=None, help="write here instead of <artifacts>/reports/...")
    s.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    store = store_of(args)
    if is_run(store, args.ref):
        from train.report import write_run_report

        path = write_run_report(load_run(store, args.ref).folder, args.out)
    else:
        manifest = store.load_ref_or_folder(args.ref)
        if manifest.kind != "corpus":
            print(
                f"garimpo: {manifest.ref} is a {manifest.kind} version; reports are written for corpus "
                "versions and training runs (checkpoints/<run>)",
                file=sys.stderr,
            )
            return 1
        from pipelines.reports import write_corpus_report

        path = write_corpus_report(manifest, args.out, progress=lambda line: print(line, file=sys.stderr))
    print(f"report: {path.resolve()}")
    return 0
