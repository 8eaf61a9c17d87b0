"""The manifest: what an artifact version is, where it came from, and the checksum of every file.

Layout under one store root (default ``./artifacts``)::

    <root>/<kind>/<name>/<version>/manifest.json   + the files it lists (paths relative to that folder)
    <root>/<kind>/<name>/latest                     text file holding the newest published version

A version is the first 12 hex digits of a fingerprint over the files' checksums, so publishing the
same content twice yields the same version, and a rebuild can never silently change what an earlier
run trained on. Paths in a manifest are checked on every use (`safe_join`): a hostile manifest cannot
make a reader open a file outside its version folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from garimpo.core.errors import ArtifactError
from garimpo.core.fs import sha256_file

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
STATS = "stats.json"
RUNS = "checkpoints"  # the kind whose entries are training run folders, not published versions
KINDS = ("corpus", "instruct", "tokenizer", "shards", RUNS)
RUN_JSON = "run.json"  # in a training run folder (checkpoints/<run>/): the run's config and lineage


def code_version() -> str:
    """The git commit of the code that runs, or the package version when not in a checkout."""
    from garimpo import __version__

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+g{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return __version__


@dataclass
class FileEntry:
    """One file of an artifact. ``path`` is relative to the version folder and never escapes it."""

    path: str
    sha256: str
    bytes: int
    tokens: int | None = None
    documents: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}
        if self.tokens is not None:
            d["tokens"] = self.tokens
        if self.documents is not None:
            d["documents"] = self.documents
        d.update(self.extra)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileEntry:
        known = {"path", "sha256", "bytes", "tokens", "documents"}
        return cls(
            path=d["path"],
            sha256=d["sha256"],
            bytes=int(d["bytes"]),
            tokens=d.get("tokens"),
            documents=d.get("documents"),
            extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass
class Manifest:
    """What an artifact is, where it came from, and the checksum of every file in it."""

    kind: str
    name: str
    version: str
    files: list[FileEntry]
    config: dict[str, Any] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    code_version: str = ""
    schema_version: int = SCHEMA_VERSION
    fingerprint: str = ""
    root: Path | None = None  # the version folder it was loaded from; not serialized

    @property
    def ref(self) -> str:
        """The canonical reference ``kind/name/version`` other manifests use as a parent."""
        return f"{self.kind}/{self.name}/{self.version}"

    def file(self, path: str) -> FileEntry:
        for f in self.files:
            if f.path == path:
                return f
        raise ArtifactError(f"{self.ref}: no file {path!r} in the manifest")

    def path_of(self, entry: FileEntry | str) -> Path:
        if self.root is None:
            raise ArtifactError(f"{self.ref}: manifest was not loaded from disk")
        rel = entry.path if isinstance(entry, FileEntry) else entry
        return safe_join(self.root, rel)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "created": self.created,
            "code_version": self.code_version,
            "config": self.config,
            "parents": self.parents,
            "files": [f.to_json() for f in self.files],
            "stats": self.stats,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], root: Path | None = None) -> Manifest:
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ArtifactError(
                f"unsupported manifest schema_version {d.get('schema_version')!r} (expected {SCHEMA_VERSION})"
            )
        return cls(
            kind=d["kind"],
            name=d["name"],
            version=d["version"],
            files=[FileEntry.from_json(f) for f in d["files"]],
            config=d.get("config", {}),
            parents=d.get("parents", {}),
            stats=d.get("stats", {}),
            extra=d.get("extra", {}),
            created=d.get("created", ""),
            code_version=d.get("code_version", ""),
            schema_version=d["schema_version"],
            fingerprint=d.get("fingerprint", ""),
            root=root,
        )


def safe_join(root: Path, rel: str) -> Path:
    """Join a manifest path to its folder, refusing absolute paths, ``..`` and symlinks that leave it."""
    if not rel or os.path.isabs(rel) or Path(rel).drive:
        raise ArtifactError(f"unsafe path {rel!r} in manifest: must be relative")
    if ".." in Path(rel).parts:
        raise ArtifactError(f"unsafe path {rel!r} in manifest: '..' is not allowed")
    base = root.resolve()
    p = (root / rel).resolve()
    if p != base and base not in p.parents:
        raise ArtifactError(f"unsafe path {rel!r} in manifest: resolves outside {base}")
    return root / rel


def fingerprint(files: Iterable[FileEntry]) -> str:
    """Content fingerprint of an artifact: sha256 over the sorted (path, sha256) pairs of its files."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda e: e.path):
        h.update(f"{f.path}\0{f.sha256}\n".encode())
    return h.hexdigest()


def json_sha256(value: Any) -> str:
    """sha256 of a JSON-able value's canonical JSON (sorted keys): a settings object's identity."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint_inputs(paths: Iterable[str | os.PathLike[str]], settings: Any = None) -> str:
    """A content key for a build's inputs: sha256 over each input file's sha256 and the settings' JSON."""
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{Path(p).name}\0{sha256_file(Path(p))}\n".encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


def describe_files(folder: Path, counts: dict[str, dict[str, Any]] | None = None) -> list[FileEntry]:
    """A FileEntry for every regular file under ``folder`` (manifest excluded), with optional counts."""
    counts = counts or {}
    entries = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name == MANIFEST:
            continue
        rel = p.relative_to(folder).as_posix()
        c = dict(counts.get(rel, {}))
        entries.append(
            FileEntry(
                path=rel,
                sha256=sha256_file(p),
                bytes=p.stat().st_size,
                tokens=c.pop("tokens", None),
                documents=c.pop("documents", None),
                extra=c,
            )
        )
    return entries


def load_manifest(folder: str | os.PathLike[str]) -> Manifest:
    """Load ``folder/manifest.json`` (or the manifest file itself) without checking file contents."""
    p = Path(folder)
    if p.name == MANIFEST:
        p = p.parent
    mpath = p / MANIFEST
    if not mpath.is_file():
        raise ArtifactError(f"no manifest at {mpath}")
    try:
        data = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"manifest {mpath} is not valid JSON: {e}") from e
    return Manifest.from_json(data, root=p)
