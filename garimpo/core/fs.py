"""Filesystem helpers every artifact writer uses: one atomic write, one tree removal, one pid check.

A published version or a resume marker must never be seen half-written, and a folder being deleted
must never be seen with some of its files gone. Each of those promises is kept by exactly one
function here, so a fix (an fsync that was missing, a rename that was not atomic) lands everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from garimpo.core.errors import ArtifactError

OWNER_FILE = "owner"  # in a work folder: the pid of the build that uses it
TRASH_PREFIX = ".trash-"
PARTIAL_GLOB = ".*.tmp"  # what `atomic_path` leaves behind when its process is killed mid-write


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; on success it is fsynced and renamed onto ``path``.

    A reader sees the old file or the new one, never a torn one; on error the temporary is removed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # matches PARTIAL_GLOB
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def remove_partial_files(folder: Path) -> list[Path]:
    """Delete the temporaries that writers killed inside `atomic_path` left in ``folder``; return them."""
    stale = sorted(folder.glob(PARTIAL_GLOB))
    for path in stale:
        path.unlink()
    return stale


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, data: Any, *, indent: int | None = 2) -> None:
    """Replace ``path`` with ``data`` as JSON atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` to disk, so the rename that publishes it can never
    expose a version whose data is still only in the page cache."""
    for dirpath, _, filenames in os.walk(folder):
        for filename in filenames:
            fd = os.open(os.path.join(dirpath, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def tree_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symlinks not followed)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def remove_tree(path: Path) -> None:
    """Delete a folder so that a concurrent or later reader sees all of it or none of it.

    It is renamed to a hidden ``.trash-<name>-<pid>`` sibling first (atomic), then deleted; a kill
    during the deletion leaves only the hidden folder (which ``gc`` collects), never a folder with
    some of its files gone.
    """
    path = Path(path)
    if not path.exists():
        return
    trash = path.with_name(f"{TRASH_PREFIX}{path.name}-{os.getpid()}")
    os.replace(path, trash)
    fsync_dir(path.parent)
    shutil.rmtree(trash, ignore_errors=True)


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (no bytes copied), or copy it where links are impossible."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def pid_alive(pid: str | int) -> bool:
    """Whether a process with this id exists (``False`` for anything that is not a number)."""
    if not str(pid).isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def folder_owner(folder: Path) -> str:
    """The process id that owns a build folder: in its ``owner`` file (a resumable work folder) or at
    the end of its name (``.tmp-build-<pid>``, ``.trash-<name>-<pid>``)."""
    owner = folder / OWNER_FILE
    if owner.is_file():
        return owner.read_text().strip()
    return folder.name.rsplit("-", 1)[-1]


def claim_folder(folder: Path) -> None:
    """Make ``folder`` (created if needed) this process's; raise when another live
    process owns it (``ArtifactError``). A dead owner's folder is taken over, which is how a killed build resumes."""
    folder.mkdir(parents=True, exist_ok=True)
    owner = folder / OWNER_FILE
    if owner.is_file():
        pid = owner.read_text().strip()
        if pid.isdigit() and int(pid) != os.getpid() and pid_alive(pid):
            raise ArtifactError(f"{folder} is in use by the running build with pid {pid}")
    owner.write_text(f"{os.getpid()}\n")
