"""The `garimpo` command: every capability from a terminal, with `--help` on each subcommand.

This package is the top floor: one module per command group (`demo`, `curate`, `shards`, `train`,
`artifacts`, `lineage`, `report`), each with a ``register(subparsers)``; nothing below it imports it.
Curation commands import `pipelines/` lazily and training commands import `train/` lazily, so
`garimpo train` works on a box that installed only `garimpo[train]` and `--help` stays fast.
`garimpo demo` runs the main job through Prefect (its embedded SQLite-backed API when no server is
configured).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from garimpo.cli import artifacts, curate, demo, evaluate, lineage, report, shards, train
from garimpo.core import ArtifactError

GROUPS = (demo, curate, shards, train, evaluate, artifacts, lineage, report)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="garimpo", description=__doc__.split("\n")[0])
    p.add_argument(
        "--artifacts", default=os.environ.get("GARIMPO_ARTIFACTS", "artifacts"), help="artifact root"
    )
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ArtifactError as e:
        print(f"garimpo: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions, missing files: a message, not a traceback
        print(f"garimpo: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
