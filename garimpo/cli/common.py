"""What every command group shares: the store an invocation names, and datatrove's quiet mode."""

from __future__ import annotations

import argparse
import os

from garimpo.core import ArtifactStore


def store_of(args: argparse.Namespace) -> ArtifactStore:
    """The artifact store of the top-level ``--artifacts`` option."""
    return ArtifactStore(args.artifacts)


def embedded_prefect() -> None:
    """Settings for running flows in this process on Prefect's embedded API (demo, eval, ablate):
    a start-up timeout for slow machines, no analytics, warnings only; the user's own values win."""
    quiet_datatrove()
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


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
