"""The wheel is the product: built, installed non-editable, it runs the main job from an empty folder.

The wheel is built from a copy of the tracked sources (so the checkout gets no ``build/`` folder) and
installed with ``--no-deps`` into a fresh virtual environment that sees this environment's installed
dependencies through a ``.pth`` line, but not its editable install of garimpo (``.pth`` files of an
added directory are not processed). Then, from an empty temporary folder with no checkout in sight,
``garimpo --help`` and ``garimpo demo`` must work and ``flows`` must import: configs, sample-corpus
templates and the flows module all come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from garimpo.core import ArtifactStore, verify

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "flows.py", "garimpo", "pipelines", "model", "train")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a venv with the garimpo wheel installed (non-editable)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    dist = tmp / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)], check=True)
    wheel = next(dist.glob("garimpo-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "garimpo-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "-q", "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    return venv / "bin"


def _run(bin_dir: Path, cwd: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PREFECT_HOME"] = str(cwd / ".prefect")
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_wheel_holds_flows_configs_and_templates(installed: Path, tmp_path: Path) -> None:
    wheel = next((installed.parents[1] / "dist").glob("garimpo-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "flows.py" in names
    assert {"garimpo/configs/recipes/pt.toml", "garimpo/configs/train/tiny.toml"} <= names
    assert "garimpo/configs/shards/default.toml" in names
    assert not [n for n in names if n.startswith("tests/") or "hostile_corpus" in n or "junk_corpus" in n]


def test_installed_wheel_runs_the_demo_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    where = _run(installed, tmp_path, "python", "-c", "import flows, garimpo; print(flows.__file__, garimpo.__file__)")
    assert where.returncode == 0, where.stderr
    assert str(REPO) not in where.stdout and "site-packages" in where.stdout, where.stdout

    helped = _run(installed, tmp_path, "garimpo", "--help")
    assert helped.returncode == 0 and "demo" in helped.stdout, helped.stderr

    demo = _run(installed, tmp_path, "garimpo", "--artifacts", "art", "demo", "--max-steps", "4")
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "== garimpo demo summary ==" in demo.stdout
    store = ArtifactStore(tmp_path / "art")
    shards = store.load("shards", "demo")
    assert verify(shards) == []
    assert sorted(p.name for p in (tmp_path / "art" / "inputs" / "sample").glob("*.jsonl"))
