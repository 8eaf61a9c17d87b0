"""Tokenizer and shard commands: `tokenizer` trains one on a corpus version, `shards` encodes it.

Their defaults come from the shard settings file (`--settings`, the shipped ``default`` unless given);
an option given on the command line overrides that one setting, so every default is written once, in
``garimpo/configs/shards/default.toml``.
"""

from __future__ import annotations

import argparse
import json

from garimpo.cli.common import store_of

SETTINGS_HELP = "shard settings: a shipped name or a TOML path (default: the shipped default)"


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("tokenizer", help="train a byte-level BPE tokenizer on a corpus version")
    s.add_argument("--corpus", required=True, help="corpus/<name>[/<version>]")
    s.add_argument("--name", default="default")
    s.add_argument("--settings", default=None, help=SETTINGS_HELP)
    s.add_argument("--vocab-size", type=int, default=None, help="overrides the settings' vocab_size")
    s.set_defaults(func=cmd_tokenizer)

    s = sub.add_parser("shards", help="tokenize a corpus version into uint16 shards")
    s.add_argument("--corpus", required=True, help="corpus/<name>[/<version>]")
    s.add_argument("--tokenizer", required=True, help="tokenizer/<name>[/<version>]")
    s.add_argument("--instruct", default=None, help="instruct/<name>[/<version>]: rendered with loss masks")
    s.add_argument("--name", default="default")
    s.add_argument("--settings", default=None, help=SETTINGS_HELP)
    s.add_argument(
        "--mix", default=None, help='per-source weights as JSON, e.g. \'{"livros": 3, "forum": 0.5}\''
    )
    s.add_argument("--mix-seed", type=int, default=None)
    s.add_argument("--val-fraction", type=float, default=None)
    s.add_argument("--max-tokens-per-shard", type=int, default=None)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_shards)


def _settings(args: argparse.Namespace, *overridable: str):  # -> pipelines.shards.ShardSettings
    """The settings file with the options given on the command line applied."""
    from pipelines.shards import load_shard_settings

    settings = load_shard_settings(args.settings) if args.settings else load_shard_settings()
    given = {name: getattr(args, name) for name in overridable if getattr(args, name) is not None}
    if isinstance(given.get("mix"), str):
        given["mix"] = json.loads(given["mix"])
    return settings.replace(**given)


def cmd_tokenizer(args: argparse.Namespace) -> int:
    from pipelines.tokenizer import publish_tokenizer

    store = store_of(args)
    vocab_size = _settings(args, "vocab_size").vocab_size
    m = publish_tokenizer(store, args.name, store.load_ref(args.corpus), vocab_size)
    print(f"published {m.ref} at {m.root} (vocab {m.extra.get('vocab_size')})")
    return 0


def cmd_shards(args: argparse.Namespace) -> int:
    from pipelines.shards import build_shards

    store = store_of(args)
    m = build_shards(
        store,
        args.name,
        store.load_ref(args.corpus),
        store.load_ref(args.tokenizer),
        instruct=store.load_ref(args.instruct) if args.instruct else None,
        settings=_settings(args, "mix", "mix_seed", "val_fraction", "max_tokens_per_shard"),
        workers=args.workers,
    )
    print(json.dumps(m.extra.get("splits", {}), indent=2))
    print(f"published {m.ref} at {m.root}")
    return 0
