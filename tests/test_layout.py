"""The project's structural promises: the trainer never imports the curation stack, and the code is ruff clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What `pip install garimpo[train]` provides; train/ and model/ may import nothing else at module level.
TRAIN_ROOTS = {"torch", "numpy", "model", "train", "garimpo"}
CURATION_ONLY = {"pipelines", "prefect", "datatrove", "fasttext", "datasketch", "pyarrow", "spacy", "ftfy"}


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ["train", "model"])
def test_trainer_never_imports_the_curation_stack(package: str) -> None:
    for path in sorted((REPO / package).rglob("*.py")):
        anywhere = _imports(path, top_level_only=False)
        assert not anywhere & CURATION_ONLY, f"{path} imports {anywhere & CURATION_ONLY}"
        top = _imports(path, top_level_only=True) - set(sys.stdlib_module_names) - {"__future__"}
        assert top <= TRAIN_ROOTS, f"{path} imports {top - TRAIN_ROOTS} at module level"


def test_artifact_store_needs_only_the_standard_library() -> None:
    top = _imports(REPO / "garimpo" / "artifacts.py", top_level_only=False)
    assert top - set(sys.stdlib_module_names) - {"__future__", "garimpo"} == set()


def test_library_code_never_imports_prefect() -> None:
    for package in ("pipelines", "train", "model", "garimpo"):
        for path in sorted((REPO / package).rglob("*.py")):
            assert "prefect" not in _imports(path, top_level_only=False), f"{path} imports prefect"


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run([str(ruff), "check", "--quiet", str(REPO)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
