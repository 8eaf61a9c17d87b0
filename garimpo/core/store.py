"""The artifact store: immutable, checksummed, atomically published versions under one root.

Both halves of garimpo meet here and nowhere else: `pipelines/` publishes corpus, tokenizer and shard
versions; `train/` reads shard manifests and publishes checkpoints. Publishing writes into
``.tmp-build-<pid>`` beside the final folder, fsyncs every file, and renames it into place, so a
killed build or a power cut leaves no partial version behind (at worst a ``.tmp-build-*`` folder,
which `garimpo.core.gc` collects). Versions are never edited, only collected.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from garimpo.core.errors import ArtifactError
from garimpo.core.fs import fsync_dir, fsync_tree, write_json_atomic, write_text_atomic
from garimpo.core.manifest import (
    KINDS,
    MANIFEST,
    RUNS,
    STATS,
    Manifest,
    code_version,
    describe_files,
    fingerprint,
    load_manifest,
)
from garimpo.core.verify import verify

LATEST = "latest"
TMP_PREFIX = ".tmp-build-"
# Store-level folders that hold no versions: resumable work in progress and content-keyed caches.
WORK_DIR = ".work"
CACHE_DIR = ".cache"


@dataclass
class Built:
    """What a ``build`` callback may return to ``ArtifactStore.publish``.

    ``counts`` are per-file entries (``{relpath: {"tokens": .., "documents": .., other keys}}``);
    ``stats`` and ``extra`` are known only once the files are written (timings, split totals) and
    complete the manifest's fields of the same name.
    """

    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    stats: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ArtifactStore:
    """Reads and publishes artifact versions under one root folder."""

    def __init__(self, root: str | os.PathLike[str] = "artifacts") -> None:
        self.root = Path(root)

    def _name_dir(self, kind: str, name: str) -> Path:
        if kind not in KINDS:
            raise ArtifactError(f"unknown artifact kind {kind!r}; expected one of {KINDS}")
        if not name or "/" in name or name.startswith("."):
            raise ArtifactError(f"invalid artifact name {name!r}")
        return self.root / kind / name

    def publish(
        self,
        kind: str,
        name: str,
        build: Callable[[Path], Built | dict[str, dict[str, Any]] | None],
        *,
        config: dict[str, Any] | None = None,
        parents: dict[str, str] | None = None,
        stats: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        set_latest: bool = True,
    ) -> Manifest:
        """Build an artifact into a temporary folder and publish it atomically.

        ``build(folder)`` writes the files and may return per-file counts ``{relpath: {"tokens": ..,
        "documents": .., other keys}}`` that go into the manifest's file entries, or a ``Built`` that
        also carries stats and extra fields known only after building. When no stats are given either
        way and the build wrote a ``stats.json``, its content becomes the manifest's stats. If a version
        with the same fingerprint already exists, the temporary folder is discarded and the existing
        manifest is returned.
        """
        name_dir = self._name_dir(kind, name)
        name_dir.mkdir(parents=True, exist_ok=True)
        tmp = name_dir / f"{TMP_PREFIX}{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            built = build(tmp)
            if not isinstance(built, Built):
                built = Built(counts=built or {})
            stats = built.stats if built.stats is not None else stats
            extra = {**(extra or {}), **built.extra}
            if stats is None and (tmp / STATS).is_file():
                stats = json.loads((tmp / STATS).read_text())
            files = describe_files(tmp, built.counts)
            fp = fingerprint(files)
            version = fp[:12]
            manifest = Manifest(
                kind=kind,
                name=name,
                version=version,
                files=files,
                config=config or {},
                parents=parents or {},
                stats=stats or {},
                extra=extra or {},
                created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                code_version=code_version(),
                fingerprint=fp,
            )
            final = name_dir / version
            if (final / MANIFEST).is_file():
                shutil.rmtree(tmp)
                existing = self.load(kind, name, version)
                if set_latest:
                    self._set_latest(name_dir, version)
                return existing
            write_json_atomic(tmp / MANIFEST, manifest.to_json())
            fsync_tree(tmp)
            if final.exists():  # a torn folder without manifest from an older crash
                shutil.rmtree(final)
            os.replace(tmp, final)
            fsync_dir(name_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        manifest.root = final
        if set_latest:
            self._set_latest(name_dir, version)
        return manifest

    def _set_latest(self, name_dir: Path, version: str) -> None:
        write_text_atomic(name_dir / LATEST, version + "\n")

    def resolve(self, kind: str, name: str, version: str = LATEST) -> str:
        """The concrete version a reference names (``latest`` is read from the pointer file)."""
        name_dir = self._name_dir(kind, name)
        if version == LATEST:
            ptr = name_dir / LATEST
            if not ptr.is_file():
                raise ArtifactError(f"no published version of {kind}/{name} under {self.root}")
            version = ptr.read_text().strip()
        if not version or "/" in version or "\\" in version or version.startswith("."):
            raise ArtifactError(f"invalid version {version!r} for {kind}/{name}")
        return version

    def load(self, kind: str, name: str, version: str = LATEST) -> Manifest:
        version = self.resolve(kind, name, version)
        return load_manifest(self._name_dir(kind, name) / version)

    @staticmethod
    def _parts(ref: str) -> list[str]:
        parts = ref.strip("/").split("/")
        if len(parts) == 2:
            parts.append(LATEST)
        if len(parts) != 3:
            raise ArtifactError(f"bad artifact reference {ref!r}; expected kind/name[/version]")
        return parts

    def load_ref(self, ref: str) -> Manifest:
        """Load ``kind/name[/version]`` (version defaults to latest)."""
        return self.load(*self._parts(ref))

    def load_ref_or_folder(self, ref: str | os.PathLike[str]) -> Manifest:
        """A version named by ``kind/name[/version]`` or by its folder on disk."""
        return load_manifest(ref) if Path(ref).is_dir() else self.load_ref(str(ref))

    def canonical(self, ref: str) -> str:
        """``kind/name/version`` of a reference, with ``latest`` (or no version) resolved."""
        kind, name, version = self._parts(ref)
        return f"{kind}/{name}/{self.resolve(kind, name, version)}"

    def versions(self, kind: str, name: str) -> list[Manifest]:
        name_dir = self._name_dir(kind, name)
        if not name_dir.is_dir():
            return []
        out = [load_manifest(p) for p in name_dir.iterdir() if (p / MANIFEST).is_file()]
        return sorted(out, key=lambda m: m.created)

    def find(self, kind: str, name: str, **config: Any) -> Manifest | None:
        """The newest version whose config has all the given key/value pairs (e.g. an input fingerprint).

        This is how flows skip work whose inputs have not changed: the key is content, not paths.
        """
        for m in reversed(self.versions(kind, name)):
            if all(m.config.get(k) == v for k, v in config.items()) and not verify(m, checksums=False):
                return m
        return None

    def names(self, kind: str) -> list[str]:
        d = self.root / kind
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    def published(self) -> list[tuple[str, Path]]:
        """``(ref, folder)`` of every version folder in the store (checkpoint runs excluded)."""
        out = []
        for kind in KINDS:
            if kind == RUNS:
                continue
            for name in self.names(kind):
                for folder in sorted((self.root / kind / name).iterdir()):
                    if folder.is_dir() and not folder.name.startswith("."):
                        out.append((f"{kind}/{name}/{folder.name}", folder))
        return out
