"""Lineage you can walk: from a checkpoint down to the source files, and from a version up to the runs.

Every step of the way is already on disk: a training run's ``run.json`` lists the shard versions its
weights saw, each manifest names its parents, and a corpus manifest names its input files, its
recipe and the fingerprint of both. ``down`` turns that into a tree ending at the input files, each
found under the store's ``inputs/`` folder and proven by recomputing the corpus's input fingerprint
(a file with the same name but other contents is reported as not found, never silently shown).
``up`` inverts the parents: everything built from a version, down to the runs that trained on it.
Both are plain data (``Node.to_json``) and print as an indented tree (``render``).
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from garimpo.core.errors import ArtifactError
from garimpo.core.fs import sha256_file
from garimpo.core.manifest import RUN_JSON, RUNS, Manifest, fingerprint_inputs, json_sha256, load_manifest
from garimpo.core.store import ArtifactStore

INPUTS_DIR = "inputs"  # where flows write the inputs they generate or read (sample corpus, sources)
MAX_CANDIDATES = 256  # combinations of same-named files tried when proving a corpus's inputs


@dataclass
class Run:
    """A training run folder and what its ``run.json`` says about it."""

    name: str
    folder: Path
    info: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{RUNS}/{self.name}"

    @property
    def shards(self) -> list[str]:
        return list(self.info.get("lineage", {}).get("shards", []))

    @property
    def step(self) -> int:
        return int(self.info.get("step", 0))


@dataclass
class Node:
    """One thing in a lineage tree: an artifact version, a run, a recipe or an input file."""

    ref: str
    kind: str
    role: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    seen: bool = False  # already shown higher up in the same tree; its children are not repeated

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ref": self.ref, "kind": self.kind, "role": self.role, **self.details}
        if self.seen:
            out["shown_above"] = True
        out["children"] = [c.to_json() for c in self.children]
        return out

    def walk(self) -> list[Node]:
        """This node and every node below it, depth first."""
        return [self, *(n for c in self.children for n in c.walk())]


def runs(store: ArtifactStore) -> list[Run]:
    """Every training run of the store with a readable ``run.json``, oldest change first."""
    folder = store.root / RUNS
    found = []
    for run in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            info = json.loads((run / RUN_JSON).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict):
            found.append(Run(run.name, run, info))
    return sorted(found, key=lambda r: ((r.folder / RUN_JSON).stat().st_mtime, r.name))


def latest_run_on(store: ArtifactStore, shards_name: str) -> Run | None:
    """The run that most recently trained on a version of ``shards/<shards_name>``, or None."""
    prefix = f"shards/{shards_name}/"
    on_it = [r for r in runs(store) if r.shards and r.shards[-1].startswith(prefix)]
    return on_it[-1] if on_it else None


def load_run(store: ArtifactStore, ref: str) -> Run:
    """A run named ``checkpoints/<run>[/<checkpoint>]``, ``<run>`` or by its folder."""
    path = Path(ref)
    if (path / RUN_JSON).is_file():
        folder = path
    else:
        parts = ref.strip("/").split("/")
        name = parts[1] if parts[0] == RUNS and len(parts) >= 2 else parts[0]
        folder = store.root / RUNS / name
    try:
        info = json.loads((folder / RUN_JSON).read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(f"no training run at {folder}: {RUN_JSON} is missing or unreadable") from e
    return Run(folder.name, folder, info)


def _run_folder(continued_from: str) -> Path:
    """The run folder a ``continued_from`` entry names (it may name the folder or a checkpoint file)."""
    path = Path(continued_from)
    return path if path.is_dir() or not path.suffix else path.parent


def is_run(store: ArtifactStore, ref: str) -> bool:
    """Whether ``ref`` names a training run (``checkpoints/<run>`` or a run folder) rather than a version."""
    return ref.strip("/").split("/")[0] == RUNS or (Path(ref) / RUN_JSON).is_file()


def down(store: ArtifactStore, ref: str) -> Node:
    """The tree from a run or version down to the recipe and input files it was built from."""
    shown: set[str] = set()
    if is_run(store, ref):
        return _run_node(store, load_run(store, ref), shown)
    return _version_node(store, store.load_ref_or_folder(ref), "", shown)


def _run_node(store: ArtifactStore, run: Run, shown: set[str]) -> Node:
    node = Node(run.ref, RUNS, details=_run_details(run))
    shown.add(run.ref)
    for i, shards_ref in enumerate(run.shards, 1):
        role = "shards" if len(run.shards) == 1 else f"shards #{i}"
        node.children.append(_parent_node(store, shards_ref, role, shown))
    parent = run.info.get("lineage", {}).get("continued_from")
    if parent:
        try:
            node.children.append(_run_node(store, load_run(store, str(_run_folder(parent))), shown))
        except ArtifactError:
            node.children.append(Node(str(parent), RUNS, "continued from", {"missing": True}))
    return node


def _run_details(run: Run) -> dict[str, Any]:
    info = run.info
    return {
        "step": run.step,
        "max_steps": info.get("max_steps"),
        "tokens_seen": info.get("tokens_seen"),
        "checkpoint": info.get("latest"),
        "best_val_loss": info.get("best_val_loss"),
        "path": str(run.folder),
    }


def _parent_node(store: ArtifactStore, ref: str, role: str, shown: set[str]) -> Node:
    try:
        canonical = store.canonical(ref)
        if canonical in shown:
            return Node(canonical, canonical.split("/")[0], role, seen=True)
        return _version_node(store, store.load_ref(canonical), role, shown)
    except ArtifactError as e:
        return Node(ref, ref.split("/")[0], role, {"missing": True, "error": str(e)})


def _version_node(store: ArtifactStore, manifest: Manifest, role: str, shown: set[str]) -> Node:
    shown.add(manifest.ref)
    node = Node(manifest.ref, manifest.kind, role, _version_details(manifest))
    for parent_role, parent in sorted(manifest.parents.items()):
        node.children.append(_parent_node(store, parent, parent_role, shown))
    if manifest.kind == "corpus":
        recipe = manifest.config.get("recipe", {})
        if recipe:
            node.children.append(
                Node(
                    f"recipe {recipe.get('name', '?')}", "recipe", "recipe", {"sha256": json_sha256(recipe)}
                )
            )
        node.children += [_file_node(f) for f in corpus_inputs(store, manifest)]
    elif manifest.kind == "instruct":
        names = manifest.config.get("inputs", [])
        node.children += [_file_node(f) for f in _by_name(store, names)]
    return node


def _version_details(m: Manifest) -> dict[str, Any]:
    details: dict[str, Any] = {
        "fingerprint": m.fingerprint,
        "created": m.created,
        "code_version": m.code_version,
    }
    st = m.stats
    if "documents_in" in st:
        details |= {k: st[k] for k in ("documents_in", "documents_kept", "documents_rejected") if k in st}
    if m.kind == "shards":
        details |= {"tokens": st.get("tokens"), "train_tokens": st.get("train", {}).get("tokens")}
        details["val_tokens"] = st.get("val", {}).get("tokens")
    if m.kind == "tokenizer":
        details["vocab_size"] = m.extra.get("vocab_size")
    if m.root is not None:
        details["path"] = str(m.root)
    return details


def _file_node(f: dict[str, Any]) -> Node:
    details = {k: v for k, v in f.items() if k != "path"}
    return Node(str(f.get("path") or f["name"]), "file", "input", details)


def corpus_inputs(store: ArtifactStore, corpus: Manifest) -> list[dict[str, Any]]:
    """The input files of a corpus version: name, path, sha256 and bytes, each proven where possible.

    A corpus manifest records its inputs' file names and one fingerprint over their contents and the
    recipe. Files of those names under the store's ``inputs/`` folder are tried (every combination,
    up to ``MAX_CANDIDATES``); the first whose recomputed fingerprint equals the recorded one is the
    proven set (``verified: true``). Otherwise each name is reported with ``found: false``.
    """
    names = [str(n) for n in corpus.config.get("inputs", [])]
    key = corpus.config.get("input_fingerprint")
    recipe = corpus.config.get("recipe", {})
    against = corpus.config.get("dedup_against") or []
    settings = recipe if not against else {"recipe": recipe, "dedup_against": against}
    candidates = [_candidates(store, n) for n in names]
    if key and all(candidates):
        for combo in itertools.islice(itertools.product(*candidates), MAX_CANDIDATES):
            if fingerprint_inputs(combo, settings) == key:
                return [_describe(p, verified=True) for p in combo]
    return [{"name": n, "found": False} for n in names]


def _by_name(store: ArtifactStore, names: list[str]) -> list[dict[str, Any]]:
    """Input files found by name only (nothing recorded to prove their contents)."""
    out = []
    for n in names:
        found = _candidates(store, str(n))
        out.append(_describe(found[0], verified=False) if len(found) == 1 else {"name": n, "found": False})
    return out


def _candidates(store: ArtifactStore, name: str) -> list[Path]:
    folder = store.root / INPUTS_DIR
    if not folder.is_dir() or not name or os.sep in name:
        return []
    return sorted(p for p in folder.rglob(name) if p.is_file())


def _describe(path: Path, verified: bool) -> dict[str, Any]:
    return {
        "name": path.name,
        "path": str(path),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "verified": verified,
    }


def up(store: ArtifactStore, ref: str) -> Node:
    """The tree of everything built from a version (or run): child versions, then the runs on them."""
    children: dict[str, list[tuple[str, str]]] = {}
    for child_ref, folder in store.published():
        try:
            manifest = load_manifest(folder)
        except ArtifactError:
            continue
        for role, parent in manifest.parents.items():
            children.setdefault(_canonical(store, parent), []).append((child_ref, f"as {role}"))
    for run in runs(store):
        for shards_ref in dict.fromkeys(run.shards):
            children.setdefault(_canonical(store, shards_ref), []).append((run.ref, "trained on"))
        parent = run.info.get("lineage", {}).get("continued_from")
        if parent:
            children.setdefault(f"{RUNS}/{_run_folder(parent).name}", []).append((run.ref, "continued from"))
    root = load_run(store, ref).ref if is_run(store, ref) else store.load_ref_or_folder(ref).ref
    shown: set[str] = set()

    def build(node_ref: str, role: str) -> Node:
        kind = node_ref.split("/")[0]
        if node_ref in shown:
            return Node(node_ref, kind, role, seen=True)
        shown.add(node_ref)
        node = Node(node_ref, kind, role, _details_of(store, node_ref))
        node.children = [build(c, r) for c, r in sorted(children.get(node_ref, []))]
        return node

    return build(root, "")


def _canonical(store: ArtifactStore, ref: str) -> str:
    try:
        return store.canonical(ref)
    except ArtifactError:
        return ref


def _details_of(store: ArtifactStore, ref: str) -> dict[str, Any]:
    try:
        if ref.startswith(f"{RUNS}/"):
            return _run_details(load_run(store, ref))
        return _version_details(store.load_ref(ref))
    except ArtifactError as e:
        return {"missing": True, "error": str(e)}


def render(node: Node) -> str:
    """The tree as indented text, one line per node with its role and the facts that identify it."""
    lines: list[str] = []

    def line(n: Node, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(prefix + branch + _label(n))
        below = prefix + ("" if top else ("    " if last else "│   "))
        for i, c in enumerate(n.children):
            line(c, below, i == len(n.children) - 1, False)

    line(node, "", True, True)
    return "\n".join(lines)


def _label(n: Node) -> str:
    d = n.details
    role = f"[{n.role}] " if n.role else ""
    if n.seen:
        return f"{role}{n.ref}  (shown above)"
    if d.get("missing"):
        return f"{role}{n.ref}  MISSING" + (f": {d['error']}" if d.get("error") else "")
    facts: list[str] = []
    if n.kind == RUNS:
        facts.append(f"step {d.get('step')}/{d.get('max_steps')}, {d.get('checkpoint')}")
        facts.append(f"{d.get('tokens_seen')} tokens seen")
    elif n.kind == "file":
        if d.get("found") is False:
            return f"{role}{n.ref}  not found under inputs/ (recorded by name only)"
        facts.append(f"sha256 {d['sha256'][:16]}, {d['bytes']} bytes")
        facts.append("matches the corpus input fingerprint" if d.get("verified") else "matched by name")
    elif n.kind == "recipe":
        facts.append(f"sha256 {d['sha256'][:16]}")
    else:
        if "documents_in" in d:
            facts.append(
                f"{d['documents_in']} docs in, {d.get('documents_kept')} kept, "
                f"{d.get('documents_rejected')} rejected"
            )
        if d.get("tokens") is not None:
            facts.append(f"{d['tokens']} tokens (train {d.get('train_tokens')}, val {d.get('val_tokens')})")
        if d.get("vocab_size") is not None:
            facts.append(f"vocab {d['vocab_size']}")
        if d.get("fingerprint"):
            facts.append(f"fingerprint {d['fingerprint'][:16]}")
    return f"{role}{n.ref}  " + "; ".join(facts)
