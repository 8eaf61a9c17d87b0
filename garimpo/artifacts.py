"""The artifact store: immutable, checksummed, atomically published versions.

Both halves of garimpo meet here and nowhere else: `pipelines/` publishes corpus, tokenizer and shard
versions; `train/` reads shard manifests and publishes checkpoints. This module needs only the standard
library so that `pip install garimpo[train]` on a GPU box can verify what it trains on.

Layout under one root (default ``./artifacts``)::

    <root>/<kind>/<name>/<version>/manifest.json   + the files it lists (paths relative to that folder)
    <root>/<kind>/<name>/latest                     text file holding the newest published version

A version is the first 12 hex digits of a fingerprint over the files' checksums, so publishing the
same content twice yields the same version (and the second publish is a no-op), and a rebuild can never
silently change what an earlier run trained on. Publishing writes into ``.tmp-build-<pid>`` beside the
final folder, fsyncs every file, and renames it into place, so a killed build or a power cut leaves no
partial version behind (at worst a ``.tmp-build-*`` folder, which ``gc`` collects).

Versions are never edited, only collected: ``ArtifactStore.gc`` removes the versions that nothing
needs (not a ``latest``, not pinned in ``<root>/pins``, not in a training run's lineage, and not a
parent of any of those), so a store can be kept small without ever breaking a lineage.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
STATS = "stats.json"
LATEST = "latest"
PINS = "pins"
RUN_JSON = "run.json"
TMP_PREFIX = ".tmp-build-"
# Store-level folders that hold no versions: resumable work in progress and content-keyed caches.
WORK_DIR = ".work"
CACHE_DIR = ".cache"
OWNER_FILE = "owner"  # in a work folder: the pid of the build that uses it
KINDS = ("corpus", "instruct", "tokenizer", "shards", "checkpoints")


class ArtifactError(RuntimeError):
    """A manifest or artifact file is missing, altered or unsafe."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


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
        way and the build wrote a ``stats.json``, its content becomes the manifest's stats. If a version with the
        same fingerprint already exists, the temporary folder is discarded and the existing manifest is
        returned.
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
            counts = built.counts
            stats = built.stats if built.stats is not None else stats
            extra = {**(extra or {}), **built.extra}
            if stats is None and (tmp / STATS).is_file():
                stats = json.loads((tmp / STATS).read_text())
            files = describe_files(tmp, counts)
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
            _write_json_atomic(tmp / MANIFEST, manifest.to_json())
            _fsync_tree(tmp)
            if final.exists():  # a torn folder without manifest from an older crash
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync_dir(name_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        manifest.root = final
        if set_latest:
            self._set_latest(name_dir, version)
        return manifest

    def _set_latest(self, name_dir: Path, version: str) -> None:
        tmp = name_dir / f".{LATEST}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(version + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name_dir / LATEST)
        _fsync_dir(name_dir)

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
        folder = self._name_dir(kind, name) / version
        return load_manifest(folder)

    def load_ref(self, ref: str) -> Manifest:
        """Load ``kind/name[/version]`` (version defaults to latest)."""
        parts = ref.strip("/").split("/")
        if len(parts) == 2:
            parts.append(LATEST)
        if len(parts) != 3:
            raise ArtifactError(f"bad artifact reference {ref!r}; expected kind/name[/version]")
        return self.load(*parts)

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

    def canonical(self, ref: str) -> str:
        """``kind/name/version`` of a reference, with ``latest`` (or no version) resolved."""
        parts = ref.strip("/").split("/")
        if len(parts) == 2:
            parts.append(LATEST)
        if len(parts) != 3:
            raise ArtifactError(f"bad artifact reference {ref!r}; expected kind/name[/version]")
        kind, name, version = parts
        return f"{kind}/{name}/{self.resolve(kind, name, version)}"

    def pins(self) -> list[str]:
        """The references listed in ``<root>/pins`` (one per line; ``#`` starts a comment)."""
        path = self.root / PINS
        if not path.is_file():
            return []
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        return [line for line in lines if line]

    def pin(self, ref: str) -> str:
        """Keep a version from ``gc`` for good; returns the concrete reference that was pinned."""
        concrete = self.load_ref(ref).ref
        if concrete not in self.pins():
            self._write_pins([*self.pins(), concrete])
        return concrete

    def unpin(self, ref: str) -> str:
        """Drop a pin (the version itself stays until ``gc`` finds nothing else needs it)."""
        concrete = self.canonical(ref)
        pins = self.pins()
        if concrete not in pins:
            raise ArtifactError(f"{concrete} is not pinned")
        self._write_pins([p for p in pins if p != concrete])
        return concrete

    def _write_pins(self, refs: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_text_atomic(self.root / PINS, "".join(r + "\n" for r in refs))

    def published(self) -> list[tuple[str, Path]]:
        """``(ref, folder)`` of every version folder in the store (checkpoint runs excluded)."""
        out = []
        for kind in KINDS:
            if kind == "checkpoints":
                continue
            for name in self.names(kind):
                for folder in sorted((self.root / kind / name).iterdir()):
                    if folder.is_dir() and not folder.name.startswith("."):
                        out.append((f"{kind}/{name}/{folder.name}", folder))
        return out

    def roots(self) -> dict[str, str]:
        """What must stay, and why: ``{ref: reason}`` for every latest, pin and training run's shards.

        Raises when a run folder holds checkpoints but no readable ``run.json``: without it nothing
        can tell which shards the run needs, so nothing may be collected.
        """
        roots: dict[str, str] = {}
        for kind in KINDS:
            for name in self.names(kind):
                if kind != "checkpoints" and (self.root / kind / name / LATEST).is_file():
                    roots.setdefault(f"{kind}/{name}/{self.resolve(kind, name)}", "latest")
        for ref in self.pins():
            roots.setdefault(self.canonical(ref), "pinned")
        runs = self.root / "checkpoints"
        for run in sorted(runs.iterdir()) if runs.is_dir() else []:
            if not run.is_dir():
                continue
            try:
                lineage = json.loads((run / RUN_JSON).read_text())["lineage"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                if any(run.glob("*.pt")):
                    raise ArtifactError(f"{run}: checkpoints without a readable {RUN_JSON} ({e})") from e
                continue
            for ref in lineage.get("shards", []):
                roots.setdefault(self.canonical(ref), f"trained on by checkpoints/{run.name}")
        return roots

    def gc(self, *, delete: bool = False, work: bool = False, caches: bool = False) -> GcPlan:
        """Find (and with ``delete``, remove) the versions nothing needs, plus leftover build folders.

        Needed: the ``roots`` and, transitively, every parent they name (shards keep their corpus,
        tokenizer and instruct versions). A version is removed by renaming it to a hidden name first,
        so a reader never sees half of one. ``.tmp-build-<pid>`` folders (and ``.gc-*`` ones from an
        interrupted delete) are collected only when that process is gone, so a build running right
        now is left alone. ``work`` also collects unfinished resumable builds under ``.work/`` whose
        owner is gone (their next run would start over), and ``caches`` the ``.cache/`` folder.
        """
        keep = self.roots()
        queue = list(keep)
        while queue:
            ref = queue.pop()
            try:
                manifest = self.load_ref(ref)
            except ArtifactError:
                continue  # a root or parent that is already gone: nothing below it to keep
            for role, parent in manifest.parents.items():
                try:
                    parent = self.canonical(parent)
                except ArtifactError:
                    continue
                if parent not in keep:
                    keep[parent] = f"{role} of {ref}"
                    queue.append(parent)
        published = self.published()
        plan = GcPlan(keep={r: keep[r] for r, _ in published if r in keep})
        for ref, folder in published:
            if ref not in keep:
                plan.remove.append(ref)
                plan.bytes += _tree_bytes(folder)
        leftovers = [
            *self.root.glob(f"*/*/{TMP_PREFIX}*"),
            *self.root.glob("*/*/.gc-*"),
            *self.root.glob(f"{WORK_DIR}/.trash-*"),
            *self.root.glob(f"{WORK_DIR}/*/.trash-*"),
        ]
        if work:
            leftovers += [p for p in (self.root / WORK_DIR).glob("*/*") if p.is_dir()]
        for folder in sorted(leftovers):
            if folder.is_dir() and not _pid_alive(_owner(folder)):
                plan.leftovers.append(folder)
        if caches and (self.root / CACHE_DIR).is_dir():
            plan.leftovers.append(self.root / CACHE_DIR)
        plan.bytes += sum(_tree_bytes(p) for p in plan.leftovers)
        if delete:
            for ref in plan.remove:
                _remove_tree(self.root / ref)
            for folder in plan.leftovers:
                _remove_tree(folder)
        return plan


@dataclass
class GcPlan:
    """What ``ArtifactStore.gc`` keeps (``{ref: why}``) and removes (versions and leftover folders)."""

    keep: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)
    bytes: int = 0


def diff_manifests(a: Manifest, b: Manifest) -> dict[str, Any]:
    """How version ``b`` differs from ``a``: changed config, parents and stats keys (flattened to
    dotted paths, each as ``[a_value, b_value]``, a missing side as None) and the files added,
    removed and changed (different sha256)."""
    files_a = {f.path: f for f in a.files}
    files_b = {f.path: f for f in b.files}
    return {
        "a": a.ref,
        "b": b.ref,
        "config": _changed(_flatten(a.config), _flatten(b.config)),
        "parents": _changed(a.parents, b.parents),
        "stats": _changed(_flatten(a.stats), _flatten(b.stats)),
        "files": {
            "added": sorted(set(files_b) - set(files_a)),
            "removed": sorted(set(files_a) - set(files_b)),
            "changed": sorted(
                p for p in set(files_a) & set(files_b) if files_a[p].sha256 != files_b[p].sha256
            ),
            "unchanged": sum(
                1 for p in set(files_a) & set(files_b) if files_a[p].sha256 == files_b[p].sha256
            ),
        },
    }


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _changed(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


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


def verify(manifest: Manifest, *, checksums: bool = True) -> list[str]:
    """Every problem found with an artifact's files (empty when it is intact).

    Checks that every path is safe, every file exists with the recorded size and, with ``checksums``,
    the recorded sha256; and that the fingerprint matches the file list.
    """
    problems = []
    for f in manifest.files:
        try:
            p = manifest.path_of(f)
        except ArtifactError as e:
            problems.append(str(e))
            continue
        if not p.is_file():
            problems.append(f"{f.path}: missing")
            continue
        size = p.stat().st_size
        if size != f.bytes:
            problems.append(f"{f.path}: size {size} != recorded {f.bytes} (truncated or altered)")
            continue
        if checksums and sha256_file(p) != f.sha256:
            problems.append(f"{f.path}: sha256 mismatch (file altered on disk)")
    if manifest.fingerprint and fingerprint(manifest.files) != manifest.fingerprint:
        problems.append("fingerprint does not match the file list (manifest altered)")
    elif manifest.fingerprint and not manifest.fingerprint.startswith(manifest.version):
        problems.append(f"version {manifest.version!r} is not the fingerprint's prefix (manifest altered)")
    return problems


def verify_or_raise(manifest: Manifest, *, checksums: bool = True) -> None:
    problems = verify(manifest, checksums=checksums)
    if problems:
        raise ArtifactError(f"{manifest.ref} failed verification: " + "; ".join(problems))


def remove_tree(path: Path) -> None:
    """Delete a folder so that a concurrent or later reader sees all of it or none of it.

    It is renamed to a hidden ``.trash-*`` sibling first (atomic), then deleted; a kill during the
    deletion leaves only the hidden folder, never a work folder with some of its files gone.
    """
    path = Path(path)
    if not path.exists():
        return
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _write_json_atomic(path: Path, data: Any) -> None:
    _write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` to disk, so the rename that publishes it can never
    expose a version whose data is still only in the page cache."""
    for dirpath, _, filenames in os.walk(folder):
        for filename in filenames:
            fd = os.open(os.path.join(dirpath, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _remove_tree(folder: Path) -> None:
    """Rename to a hidden name, then delete: a reader sees the whole folder or nothing."""
    doomed = folder.with_name(f".gc-{folder.name}-{os.getpid()}")
    os.replace(folder, doomed)
    _fsync_dir(folder.parent)
    shutil.rmtree(doomed)


def _owner(folder: Path) -> str:
    """The process id that owns a build folder: in its name (``.tmp-build-<pid>``, ``.gc-<v>-<pid>``)
    or, for a resumable work folder, in its ``owner`` file."""
    owner = folder / OWNER_FILE
    if owner.is_file():
        return owner.read_text().strip()
    return folder.name.rsplit("-", 1)[-1]


def _pid_alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
