"""The house's rules, checked: who may import whom, where each format fact lives, how big a room is.

Floors (``docs/architecture.md``): the foundation ``garimpo/core`` imports only the standard library
and numpy; ``pipelines/`` (curation) and ``train/`` + ``model/`` (the trainer) stand on it and never on
each other; the CLI ``garimpo/cli`` and ``flows.py`` stand on top, and nothing below imports the CLI.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
CURATION_ONLY = {"pipelines", "prefect", "datatrove", "fasttext", "datasketch", "pyarrow", "spacy", "ftfy"}
MAX_LINES = 400
# Every literal of the shard format, special tokens included: each may appear in library code only in
# the formats module (docstrings and comments do not count).
FORMAT_LITERALS = {
    "<|endoftext|>",
    "<|system|>",
    "<|query|>",
    "<|answer|>",
    "<|think|>",
    "<|context|>",
    "<u2",
    "<u8",
    "sft-",
    ".ds",
    ".ds.index",
    ".ds.loss",
    "tokenizer.json",
}


def _library_files() -> list[Path]:
    files = [REPO / "flows.py"]
    for package in ("garimpo", "pipelines", "train", "model"):
        files += sorted((REPO / package).rglob("*.py"))
    return files


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Dotted names of every module ``path`` imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _roots(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def _is_cli(name: str) -> bool:
    return name == "garimpo.cli" or name.startswith("garimpo.cli.")


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_foundation_needs_only_the_standard_library_and_numpy() -> None:
    for path in sorted((REPO / "garimpo" / "core").rglob("*.py")):
        names = _imports(path)
        foreign = {n for n in names if n.split(".")[0] not in STDLIB | {"numpy", "garimpo"}}
        assert not foreign, f"{path} imports {foreign}"
        upward = {
            n
            for n in names
            if _under(n, "garimpo") and not _under(n, "garimpo.core") and n not in ("garimpo", "garimpo.__version__")
        }
        assert not upward, f"{path} (foundation) imports {upward}"


@pytest.mark.parametrize("package", ["train", "model"])
def test_trainer_never_imports_the_curation_stack_or_the_cli(package: str) -> None:
    allowed = {"torch", "numpy", "model"} | ({"train", "garimpo"} if package == "train" else set())
    for path in sorted((REPO / package).rglob("*.py")):
        anywhere = _imports(path)
        assert not _roots(anywhere) & CURATION_ONLY, f"{path} imports {_roots(anywhere) & CURATION_ONLY}"
        assert not [n for n in anywhere if _under(n, "garimpo") and not _under(n, "garimpo.core")], path
        top = _roots(_imports(path, top_level_only=True)) - STDLIB
        assert top <= allowed, f"{path} imports {top - allowed} at module level"


def test_curation_never_imports_the_trainer_or_the_cli() -> None:
    for path in sorted((REPO / "pipelines").rglob("*.py")):
        names = _imports(path)
        assert not _roots(names) & {"train", "model", "flows"}, f"{path} imports the trainer or flows"
        assert not [n for n in names if _is_cli(n)], f"{path} imports the CLI"


def test_nothing_below_the_cli_imports_it_and_no_library_module_parses_arguments() -> None:
    for path in _library_files():
        if _is_cli(_module(path)) or _module(path) == "garimpo.__main__":
            continue
        names = _imports(path)
        assert not [n for n in names if _is_cli(n)], f"{path} imports the CLI"
        assert "argparse" not in names, f"{path} parses command-line arguments: that belongs in garimpo/cli"


def test_library_code_never_imports_prefect_and_never_edits_sys_path() -> None:
    for path in _library_files():
        if path.name == "flows.py":
            continue
        assert "prefect" not in _roots(_imports(path)), f"{path} imports prefect"
    for path in [*_library_files(), *sorted((REPO / "tests").rglob("*.py"))]:
        if path == Path(__file__):
            continue
        assert "sys.path" not in path.read_text(), f"{path} edits sys.path"


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def test_every_shard_format_fact_is_written_once_in_the_formats_module() -> None:
    formats = REPO / "garimpo" / "core" / "formats.py"
    assert _string_constants(formats) | {".ds.index", ".ds.loss"} >= FORMAT_LITERALS
    for path in _library_files():
        if path == formats:
            continue
        found = _string_constants(path) & FORMAT_LITERALS
        assert not found, f"{path} spells the shard format itself: {sorted(found)} (import garimpo.core.formats)"


def test_no_room_is_too_big_without_saying_why() -> None:
    for path in [*_library_files(), *sorted((REPO / "bench").glob("*.py"))]:
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert f"over {MAX_LINES} lines" in doc, f"{path} has {lines} lines and no reason in its docstring"


def test_reports_open_without_a_network() -> None:
    """The HTML reports embed everything: no URL in their writers but the SVG namespace."""
    writers = [REPO / "garimpo/core/html.py", REPO / "train/report.py"]
    writers += sorted((REPO / "pipelines" / "reports").glob("*.py"))
    for path in writers:
        urls = {u for c in _string_constants(path) for u in re.findall(r"https?://[^\s\"'<>]+", c)}
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{path} links to the network: {urls}"


def test_ruff_is_clean() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run([str(ruff), "check", "--quiet", str(REPO)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_lm_evaluation_harness_is_imported_only_lazily_by_its_one_module() -> None:
    # lm_eval (the optional `eval` extra) pulls datasets, accelerate and more: only the harness module
    # may import it, inside the function that runs it, so evaluation without it keeps working.
    for path in [*_library_files(), *sorted((REPO / "bench").glob("*.py"))]:
        if "lm_eval" in _roots(_imports(path)):
            assert path == REPO / "train" / "eval_harness.py", f"{path} imports lm_eval"
            assert "lm_eval" not in _roots(_imports(path, top_level_only=True)), f"{path} imports lm_eval at load"
