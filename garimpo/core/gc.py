"""Keeping a store small without breaking a lineage: pins, roots and garbage collection.

``collect`` removes the versions that nothing needs: not a ``latest``, not pinned in ``<root>/pins``,
not in a training run's lineage, and not a parent of any of those. Leftover build folders are
collected only when the process that made them is gone, so a build running right now is left alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from garimpo.core.errors import ArtifactError
from garimpo.core.fs import TRASH_PREFIX, folder_owner, pid_alive, remove_tree, tree_bytes, write_text_atomic
from garimpo.core.manifest import KINDS, RUN_JSON, RUNS
from garimpo.core.store import CACHE_DIR, LATEST, TMP_PREFIX, WORK_DIR, ArtifactStore

PINS = "pins"


@dataclass
class GcPlan:
    """What ``collect`` keeps (``{ref: why}``) and removes (versions and leftover folders)."""

    keep: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)
    bytes: int = 0


def pins(store: ArtifactStore) -> list[str]:
    """The references listed in ``<root>/pins`` (one per line; ``#`` starts a comment)."""
    path = store.root / PINS
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pin(store: ArtifactStore, ref: str) -> str:
    """Keep a version from ``collect`` for good; returns the concrete reference that was pinned."""
    concrete = store.load_ref(ref).ref
    if concrete not in pins(store):
        _write_pins(store, [*pins(store), concrete])
    return concrete


def unpin(store: ArtifactStore, ref: str) -> str:
    """Drop a pin (the version itself stays until ``collect`` finds nothing else needs it)."""
    concrete = store.canonical(ref)
    current = pins(store)
    if concrete not in current:
        raise ArtifactError(f"{concrete} is not pinned")
    _write_pins(store, [p for p in current if p != concrete])
    return concrete


def _write_pins(store: ArtifactStore, refs: list[str]) -> None:
    store.root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(store.root / PINS, "".join(r + "\n" for r in refs))


def roots(store: ArtifactStore) -> dict[str, str]:
    """What must stay, and why: ``{ref: reason}`` for every latest, pin and training run's shards.

    Raises when a run folder holds checkpoints but no readable ``run.json``: without it nothing
    can tell which shards the run needs, so nothing may be collected.
    """
    found: dict[str, str] = {}
    for kind in KINDS:
        for name in store.names(kind):
            if kind != RUNS and (store.root / kind / name / LATEST).is_file():
                found.setdefault(f"{kind}/{name}/{store.resolve(kind, name)}", "latest")
    for ref in pins(store):
        found.setdefault(store.canonical(ref), "pinned")
    runs = store.root / RUNS
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
            found.setdefault(store.canonical(ref), f"trained on by checkpoints/{run.name}")
    return found


def collect(store: ArtifactStore, *, delete: bool = False, work: bool = False, caches: bool = False) -> GcPlan:
    """Find (and with ``delete``, remove) the versions nothing needs, plus leftover build folders.

    Needed: the ``roots`` and, transitively, every parent they name (shards keep their corpus,
    tokenizer and instruct versions). A version is removed with ``remove_tree``, so a reader never
    sees half of one. ``work`` also collects unfinished resumable builds under ``.work/`` whose owner
    is gone (their next run would start over), and ``caches`` the ``.cache/`` folder.
    """
    keep = roots(store)
    queue = list(keep)
    while queue:
        ref = queue.pop()
        try:
            manifest = store.load_ref(ref)
        except ArtifactError:
            continue  # a root or parent that is already gone: nothing below it to keep
        for role, parent in manifest.parents.items():
            try:
                parent = store.canonical(parent)
            except ArtifactError:
                continue
            if parent not in keep:
                keep[parent] = f"{role} of {ref}"
                queue.append(parent)
    published = store.published()
    plan = GcPlan(keep={r: keep[r] for r, _ in published if r in keep})
    for ref, folder in published:
        if ref not in keep:
            plan.remove.append(ref)
            plan.bytes += tree_bytes(folder)
    root = store.root
    leftovers = [
        *root.glob(f"*/*/{TMP_PREFIX}*"),
        *root.glob(f"*/*/{TRASH_PREFIX}*"),
        *root.glob(f"{WORK_DIR}/{TRASH_PREFIX}*"),
        *root.glob(f"{WORK_DIR}/*/{TRASH_PREFIX}*"),
    ]
    if work:
        leftovers += [p for p in (root / WORK_DIR).glob("*/*") if p.is_dir()]
    for folder in sorted(leftovers):
        if folder.is_dir() and not pid_alive(folder_owner(folder)):
            plan.leftovers.append(folder)
    if caches and (root / CACHE_DIR).is_dir():
        plan.leftovers.append(root / CACHE_DIR)
    plan.bytes += sum(tree_bytes(p) for p in plan.leftovers)
    if delete:
        for ref in plan.remove:
            remove_tree(root / ref)
        for folder in plan.leftovers:
            remove_tree(folder)
    return plan
