"""What every command group shares: the store an invocation names, and datatrove's quiet mode."""

from __future__ import annotations

import argparse
import os

from garimpo.core import ArtifactStore


def store_of(args: argparse.Namespace) -> ArtifactStore:
    """The artifact store of the top-level ``--artifacts`` option."""
    return ArtifactStore(args.artifacts)


def quiet_datatrove() -> None:
    """datatrove prints every executor's full stats table to stderr (its per-stage stats.json keeps
    them); silence it unless GARIMPO_VERBOSE is set."""
    if os.environ.get("GARIMPO_VERBOSE"):
        return
    try:
        from loguru import logger
    except ImportError:
        return
    logger.disable("datatrove")
