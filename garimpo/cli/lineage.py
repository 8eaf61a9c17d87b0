"""`garimpo lineage REF`: the tree from a checkpoint down to its input files, or (``--up``) what was built on a version.

It reads only the foundation (manifests and run folders through ``garimpo.core.lineage``), so it works
on a training box that installed only ``garimpo[train]``.
"""

from __future__ import annotations

import argparse
import json

from garimpo.cli.common import store_of
from garimpo.core.lineage import down, render, up


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``lineage REF [--up] [--json]``."""
    s = sub.add_parser(
        "lineage", help="the tree of versions a checkpoint or version came from (or, --up, led to)"
    )
    s.add_argument("ref", help="checkpoints/<run>, kind/name[/version], or a run or version folder")
    s.add_argument(
        "--up", action="store_true", help="everything built from REF instead of what REF came from"
    )
    s.add_argument("--json", action="store_true", help="the tree as JSON")
    s.set_defaults(func=cmd_lineage)


def cmd_lineage(args: argparse.Namespace) -> int:
    store = store_of(args)
    tree = up(store, args.ref) if args.up else down(store, args.ref)
    print(json.dumps(tree.to_json(), indent=1, ensure_ascii=False) if args.json else render(tree))
    return 0
