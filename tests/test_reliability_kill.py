"""Killed builds publish nothing partial and, rerun, end exactly where an uninterrupted build ends.

`clean-corpus` (``pipelines.curate.publish_corpus`` with a persistent work folder) and `build-shards`
(``pipelines.shards.build_shards``) run in a subprocess that is SIGKILLed at a seeded random moment
of its work, then rerun to completion. After every trial the store must hold only whole versions
(each version folder has a manifest that verifies, every ``latest`` names one of them) and the final
manifest's fingerprint must equal an uninterrupted run's. The helpers here also drive
``bench/reliability.py``, which runs more trials.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from garimpo.core import LATEST, MANIFEST, ArtifactStore, load_manifest, verify
from garimpo.core.store import TMP_PREFIX
from pipelines.curate import publish_corpus
from pipelines.sample_corpus import write_sample_corpus
from pipelines.tokenizer import publish_tokenizer

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DOCS = 60
SHARD_TOKENS = 256  # many small shards: many completion markers to be killed between

CURATE = """
import sys
from pathlib import Path
from loguru import logger
from garimpo.core import ArtifactStore
from pipelines.curate import publish_corpus
logger.disable("datatrove")
store, work, inputs = ArtifactStore(sys.argv[1]), Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
print("ready", flush=True)
print(publish_corpus(store, "kill", inputs, work_dir=work).fingerprint, flush=True)
"""

SHARDS = """
import sys
from garimpo.core import ArtifactStore
from pipelines.shards import build_shards, load_shard_settings
store = ArtifactStore(sys.argv[1])
corpus, tokenizer = store.load_ref(sys.argv[2]), store.load_ref(sys.argv[3])
settings = load_shard_settings().replace(val_fraction=0.1, max_tokens_per_shard=int(sys.argv[4]))
print("ready", flush=True)
m = build_shards(store, "kill", corpus, tokenizer, settings=settings)
print(m.fingerprint, flush=True)
"""


@dataclass
class Trials:
    """What a series of kill trials found: counts, problems, and where the kills landed."""

    scenario: str
    trials: int = 0
    killed: int = 0  # trials where the kill arrived before the build finished
    passed: int = 0
    failures: list[str] = field(default_factory=list)
    leftover_temp_folders: int = 0  # .tmp-build-* left by kills (hidden; `artifacts gc` collects them)
    reference_seconds: float = 0.0


def run_build(
    script: str, args: list[str], log: Path, kill_after: float | None = None
) -> tuple[str | None, float]:
    """Run a build script (stderr to ``log``); with ``kill_after``, SIGKILL its process group that
    many seconds after it reports ready. Returns (its last stdout line, or None when killed; the
    seconds it worked after reporting ready)."""
    with log.open("a") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # its own process group: the kill reaches datatrove's workers too
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    started = time.perf_counter()
    if ready.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"build did not start; see {log}")
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            return None, time.perf_counter() - started
    out = proc.stdout.read().strip().splitlines()
    proc.stdout.close()
    if proc.wait() != 0 or not out:
        raise RuntimeError(f"build failed with exit code {proc.returncode}; see {log}")
    return out[-1], time.perf_counter() - started


def store_problems(root: Path) -> list[str]:
    """Everything in a store that is not a whole published version (hidden build folders excepted)."""
    problems = []
    for kind_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for name_dir in sorted(p for p in kind_dir.iterdir() if p.is_dir()):
            for entry in sorted(name_dir.iterdir()):
                if entry.name.startswith("."):
                    continue
                if entry.name == LATEST:
                    target = name_dir / entry.read_text().strip()
                    if not (target / MANIFEST).is_file():
                        problems.append(f"{entry} names {target.name}, which is not a published version")
                elif not (entry / MANIFEST).is_file():
                    problems.append(f"{entry}: version folder without a manifest")
                else:
                    problems += [f"{entry}: {p}" for p in verify(load_manifest(entry))]
    return problems


def leftovers(root: Path) -> int:
    return len(list(root.glob(f"*/*/{TMP_PREFIX}*")))


def kill_trials(
    scenario: str,
    script: str,
    make_args: Callable[[Path], list[str]],
    base: Path,
    n_trials: int,
    seed: int,
) -> Trials:
    """One uninterrupted reference run, then ``n_trials`` runs killed at a random moment of their
    work (uniform over the reference's duration) and rerun to completion.

    ``make_args(trial_folder)`` prepares a fresh trial folder and returns the script's arguments,
    the store root first; the first call is for the reference.
    """
    result = Trials(scenario)
    log = base / f"{scenario}.log"
    reference, result.reference_seconds = run_build(script, make_args(base / "reference"), log)
    rng = random.Random(seed)
    for trial in range(n_trials):
        folder = base / f"trial-{trial}"
        args = make_args(folder)
        store = Path(args[0])
        result.trials += 1
        killed, _ = run_build(script, args, log, kill_after=rng.uniform(0.0, result.reference_seconds))
        result.killed += killed is None
        problems = store_problems(store) if store.is_dir() else []
        final, _ = run_build(script, args, log)
        result.leftover_temp_folders += leftovers(store)
        problems += store_problems(store)
        if final != reference:
            problems.append(f"fingerprint {final} after the kill != uninterrupted {reference}")
        if problems:
            result.failures.append(f"{scenario} trial {trial}: " + "; ".join(problems))
        else:
            result.passed += 1
        shutil.rmtree(folder, ignore_errors=True)
    return result


def sample_inputs(folder: Path) -> list[Path]:
    write_sample_corpus(folder, n_docs=SAMPLE_DOCS)
    return sorted(p for p in folder.glob("*.jsonl") if p.name != "instruct.jsonl")


def curate_trials(base: Path, n_trials: int, seed: int) -> Trials:
    """Kill trials of `clean-corpus` on the sample corpus."""
    inputs = sample_inputs(base / "inputs")

    def make_args(folder: Path) -> list[str]:
        folder.mkdir(parents=True)
        return [str(folder / "store"), str(folder / "work"), *map(str, inputs)]

    return kill_trials("clean-corpus", CURATE, make_args, base, n_trials, seed)


def shards_trials(base: Path, n_trials: int, seed: int) -> Trials:
    """Kill trials of `build-shards` on a curated sample corpus and a tokenizer published once."""
    store = ArtifactStore(base / "base-store")
    corpus = publish_corpus(store, "kill", sample_inputs(base / "inputs"))
    tokenizer = publish_tokenizer(store, "kill", corpus, vocab_size=512)

    def make_args(folder: Path) -> list[str]:
        shutil.copytree(store.root, folder / "store")
        return [str(folder / "store"), corpus.ref, tokenizer.ref, str(SHARD_TOKENS)]

    return kill_trials("build-shards", SHARDS, make_args, base, n_trials, seed)


@pytest.mark.slow
def test_killed_curation_publishes_nothing_partial_and_resumes_to_the_same_version(tmp_path: Path) -> None:
    result = curate_trials(tmp_path, n_trials=2, seed=7)
    assert result.trials == 2
    assert result.killed >= 1  # at least one kill landed before the build finished
    assert result.failures == []
    assert result.passed == result.trials


@pytest.mark.slow
def test_killed_shard_build_publishes_nothing_partial_and_resumes_to_the_same_version(tmp_path: Path) -> None:
    result = shards_trials(tmp_path, n_trials=3, seed=11)
    assert result.trials == 3
    assert result.killed >= 1
    assert result.failures == []
    assert result.passed == result.trials


def test_store_check_catches_a_partial_version_and_a_dangling_latest(tmp_path: Path) -> None:
    """The invariant the trials rely on is itself able to fail."""
    store = ArtifactStore(tmp_path)
    m = store.publish("corpus", "x", lambda d: (d / "a.txt").write_text("conteudo") and None)
    assert store_problems(tmp_path) == []
    (m.root / "a.txt").write_text("Conteudo")
    (tmp_path / "corpus" / "x" / "0123456789ab").mkdir()
    (tmp_path / "corpus" / "x" / LATEST).write_text("fedcba987654\n")
    problems = "\n".join(store_problems(tmp_path))
    assert "a.txt: sha256 mismatch" in problems
    assert "0123456789ab: version folder without a manifest" in problems
    assert "names fedcba987654" in problems
