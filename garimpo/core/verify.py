"""Checking a version against its manifest: every file present, of its recorded size and checksum.

Disks and people alter files. The trainer verifies before it trains, the store before it reuses a
version, and ``garimpo artifacts verify`` on demand; all of them ask this one function.
"""

from __future__ import annotations

from garimpo.core.errors import ArtifactError
from garimpo.core.fs import sha256_file
from garimpo.core.manifest import Manifest, fingerprint


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
    """``verify``, raising ``ArtifactError`` with every problem when there is one."""
    problems = verify(manifest, checksums=checksums)
    if problems:
        raise ArtifactError(f"{manifest.ref} failed verification: " + "; ".join(problems))
