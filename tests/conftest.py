"""Shared test settings: where the real data lives, an isolated Prefect home per test session, and the
artifact store and tokenizer fixtures of the trainer tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from garimpo.core import ArtifactStore

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Prefect reads its settings at import time; keep every test run away from the user's ~/.prefect.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="garimpo-prefect-home-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets beside the checkout; skips the test when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is absent (it ships beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    """An empty artifact store shared by the tests of one module."""
    return ArtifactStore(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> Path:
    """A byte-level BPE trained on the requesting module's ``texts`` fixture."""
    from tests.train_shards import train_tokenizer  # imports torch: only trainer tests pay for it

    return train_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json", texts)
