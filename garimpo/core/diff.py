"""What changed between two versions: config, parents, stats (as dotted paths) and files.

``garimpo artifacts diff`` answers "why did this rebuild give a new version?" with it.
"""

from __future__ import annotations

from typing import Any

from garimpo.core.manifest import Manifest


def diff_manifests(a: Manifest, b: Manifest) -> dict[str, Any]:
    """How version ``b`` differs from ``a``: changed config, parents and stats keys (flattened to
    dotted paths, each as ``[a_value, b_value]``, a missing side as None) and the files added,
    removed and changed (different sha256)."""
    files_a = {f.path: f for f in a.files}
    files_b = {f.path: f for f in b.files}
    both = set(files_a) & set(files_b)
    return {
        "a": a.ref,
        "b": b.ref,
        "config": _changed(_flatten(a.config), _flatten(b.config)),
        "parents": _changed(a.parents, b.parents),
        "stats": _changed(_flatten(a.stats), _flatten(b.stats)),
        "files": {
            "added": sorted(set(files_b) - set(files_a)),
            "removed": sorted(set(files_a) - set(files_b)),
            "changed": sorted(p for p in both if files_a[p].sha256 != files_b[p].sha256),
            "unchanged": sum(1 for p in both if files_a[p].sha256 == files_b[p].sha256),
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
