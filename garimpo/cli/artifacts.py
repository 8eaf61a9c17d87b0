"""`garimpo artifacts`: list, show, diff, verify, pin and garbage-collect the versions of a store.

This group imports only the foundation (``garimpo.core``), so it works on a training box that
installed only ``garimpo[train]``. ``gc`` is a dry run unless ``--yes`` is given, because deleting
data is the one thing the store cannot take back.
"""

from __future__ import annotations

import argparse
import json
import sys

from garimpo.cli.common import store_of
from garimpo.core import KINDS, LATEST, gc, load_manifest, verify
from garimpo.core.diff import diff_manifests
from garimpo.core.manifest import RUNS
from garimpo.core.report import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``artifacts`` command (list | show | diff | verify | gc | pin | unpin) to a parser.

    Its handlers read the store root from ``args.artifacts`` (the top-level ``--artifacts`` option).
    """
    p = subparsers.add_parser("artifacts", help="list, show, diff, verify, pin or garbage-collect versions")
    sub = p.add_subparsers(dest="action", required=True)

    s = sub.add_parser("list", help="every version with its size; * marks latest, P pinned")
    s.add_argument("kind", nargs="?", choices=[k for k in KINDS if k != RUNS])
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", help="a version's manifest as JSON")
    s.add_argument("ref", help="kind/name[/version] or a version folder")
    s.add_argument("--files", action="store_true", help="include the file list")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("diff", help="config, parents, stats and files that differ between two versions")
    s.add_argument("a", help="kind/name[/version] or a version folder")
    s.add_argument("b", help="kind/name[/version] or a version folder")
    s.set_defaults(func=cmd_diff)

    s = sub.add_parser("verify", help="check sizes and checksums (every version when no reference)")
    s.add_argument("refs", nargs="*", help="kind/name[/version] or version folders")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("gc", help="remove versions nothing needs (dry run unless --yes)")
    s.add_argument("--yes", action="store_true", help="really delete")
    s.add_argument("--work", action="store_true", help="also drop unfinished resumable builds (.work/)")
    s.add_argument("--caches", action="store_true", help="also drop the token cache (.cache/)")
    s.set_defaults(func=cmd_gc)

    s = sub.add_parser("pin", help="keep a version from gc")
    s.add_argument("ref", help="kind/name[/version]")
    s.set_defaults(func=cmd_pin)

    s = sub.add_parser("unpin", help="let gc collect a version again when nothing else needs it")
    s.add_argument("ref", help="kind/name[/version]")
    s.set_defaults(func=cmd_unpin)


def cmd_list(args: argparse.Namespace) -> int:
    store = store_of(args)
    pins = set(gc.pins(store))
    rows = []
    for kind in [args.kind] if args.kind else KINDS:
        if kind == RUNS:
            continue
        for name in store.names(kind):
            latest = store.resolve(kind, name) if (store.root / kind / name / LATEST).is_file() else ""
            for m in store.versions(kind, name):
                rows.append(
                    {
                        "ref": m.ref,
                        "created": m.created,
                        "files": len(m.files),
                        "bytes": sum(f.bytes for f in m.files),
                        "latest": "*" if m.version == latest else "",
                        "pinned": "P" if m.ref in pins else "",
                    }
                )
    print(format_table(rows))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    m = store_of(args).load_ref_or_folder(args.ref)
    shown = {k: v for k, v in m.to_json().items() if k != "files" or args.files}
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    store = store_of(args)
    print(
        json.dumps(
            diff_manifests(store.load_ref_or_folder(args.a), store.load_ref_or_folder(args.b)),
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    store = store_of(args)
    manifests = (
        [store.load_ref_or_folder(ref) for ref in args.refs]
        if args.refs
        else [
            load_manifest(folder) for _, folder in store.published() if (folder / "manifest.json").is_file()
        ]
    )
    failed = 0
    for m in manifests:
        problems = verify(m)
        if problems:
            failed += 1
            print(f"{m.ref}: FAILED")
            for p in problems:
                print(f"  {p}")
        else:
            print(f"{m.ref}: ok ({len(m.files)} files verified)")
    return 1 if failed else 0


def cmd_gc(args: argparse.Namespace) -> int:
    plan = gc.collect(store_of(args), delete=args.yes, work=args.work, caches=args.caches)
    verb = "removed" if args.yes else "would remove"
    for ref, why in sorted(plan.keep.items()):
        print(f"keep    {ref}  ({why})")
    for ref in plan.remove:
        print(f"{verb:<7} {ref}")
    for folder in plan.leftovers:
        print(f"{verb:<7} {folder}  (leftover)")
    print(
        f"{verb} {len(plan.remove)} versions and {len(plan.leftovers)} leftover folders, {plan.bytes} bytes"
    )
    if not args.yes and (plan.remove or plan.leftovers):
        print("dry run: pass --yes to delete", file=sys.stderr)
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    print(f"pinned {gc.pin(store_of(args), args.ref)}")
    return 0


def cmd_unpin(args: argparse.Namespace) -> int:
    print(f"unpinned {gc.unpin(store_of(args), args.ref)}")
    return 0
