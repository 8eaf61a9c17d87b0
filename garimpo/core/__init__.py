"""The foundation: the on-disk contract both halves of garimpo stand on, and nothing else.

``pipelines/`` (curation) and ``train/`` (the trainer) never import each other; they meet here, in
files on disk. This package holds the manifest model (`manifest`), the artifact store (`store`),
garbage collection and pins (`gc`), verification and diffs (`verify`, `diff`), filesystem helpers
(`fs`), the strict TOML settings loader and the shipped default configs (`settings`), and the one
module that owns every fact of the token-shard format (`formats`).

It imports only the standard library and numpy, so ``pip install garimpo[train]`` on a GPU box can
read, verify and publish what it trains on; ``tests/test_layout.py`` keeps it that way.
"""

from garimpo.core.errors import ArtifactError
from garimpo.core.manifest import KINDS, MANIFEST, FileEntry, Manifest, load_manifest
from garimpo.core.store import LATEST, ArtifactStore, Built
from garimpo.core.verify import verify, verify_or_raise

__all__ = [
    "KINDS",
    "LATEST",
    "MANIFEST",
    "ArtifactError",
    "ArtifactStore",
    "Built",
    "FileEntry",
    "Manifest",
    "load_manifest",
    "verify",
    "verify_or_raise",
]
