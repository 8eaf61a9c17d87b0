"""Curate JSONL sources into a corpus: read -> normalize -> boilerplate -> langid -> quality (-> classifier) -> pii -> dedup.

The stages run as a few datatrove runs, "phases" (``pipelines/phases.py`` says how stages are
grouped and why), on local processes, Ray or any other datatrove executor
(``pipelines/executors.py``; where it runs never changes the output). The inputs are first cut into
pieces (``pipelines/input_plan.py``: byte ranges of plain JSONL, line ranges of compressed files),
so N workers get N shares even of one big file; every documents phase runs one task per piece.

A Prefect flow shows every phase as its own task, and a killed run resumes: a finished phase leaves
``done.json``, and inside a phase datatrove's ``completions/`` skip finished tasks. ``run.json``
records the recipe, the inputs and the pieces, so a resumed run keeps its first run's pieces
whatever its worker count. Documents never sit in one process's memory: tasks stream them between
gzipped JSONL files and rejects go to per-stage exclusion files (the folder's layout is
``pipelines/work_folder.py``); `finalize` (``pipelines/finalize.py``) then merges everything in input
order into the corpus layout of ``docs/formats.md``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.pipeline.base import PipelineStep

from garimpo.core import ArtifactStore, Built, Manifest
from garimpo.core.fs import write_json_atomic
from garimpo.core.manifest import fingerprint_inputs
from pipelines.corpus_files import parquet_rows
from pipelines.executors import ExecutorConfig, make_executor
from pipelines.finalize import finalize
from pipelines.input_plan import Piece, plan_pieces
from pipelines.phases import (
    BOILERPLATE_COUNTS,
    DEDUP_BUCKETS,
    DEDUP_CLUSTERS,
    PartitionReader,
    PartitionWriter,
    Phase,
    phase_plan,
    stage_steps,
)
from pipelines.progress import ProgressProbe, watch_phase
from pipelines.recipe import Recipe, load_recipe
from pipelines.stages.accounting import (
    AccountingError,
    count_records,
    merged_step_stats,
    reject_reasons,
    stage_entry,
)
from pipelines.stages.boilerplate_phases import (
    BoilerplateCounts,
    BoilerplateLines,
    BoilerplateStrip,
    partitions_for,
)
from pipelines.stages.dedup_cluster import DedupBuckets, DedupClusters, DedupFilter
from pipelines.stages.dedup_phases import DedupSignatures, file_order, write_against_signatures
from pipelines.stages.read import JsonlSource
from pipelines.work_files import WorkWriter
from pipelines.work_folder import (
    BOILERPLATE_DIR,
    DEDUP_DIR,
    DEDUP_INDEX,
    DONE,
    RUN,
    done_entry,
    last_documents_phase,
    phase_dir,
)

# Called from the watcher thread with (fraction done or NaN, one-line summary); the flow's progress artifact.
OnProgress = Callable[[float, str], None]


def phase_names(recipe: Recipe) -> list[str]:
    """The phases a run executes, in order (``pipelines/phases.py``)."""
    return [phase.name for phase in phase_plan(recipe)]


def stage_names(recipe: Recipe) -> list[str]:
    """The stages whose counts stats.json reports, in order: ``read`` then the recipe's stages."""
    return ["read", *recipe.stages]


def _check_run(work_dir: Path, recipe: Recipe, inputs: list[Path] | None, workers: int) -> dict[str, Any]:
    """Refuse to resume a work folder started with another recipe or other inputs; return run.json.

    The first run with inputs cuts them into pieces (about one per worker, more for big files) and
    records them, so a resumed run works on the same pieces whatever its worker count.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    run_file = work_dir / RUN
    current: dict[str, Any] = {"recipe": recipe.to_dict()}
    if inputs is not None:
        current["inputs"] = sorted(str(Path(p).resolve()) for p in inputs)
    if run_file.is_file():
        previous = json.loads(run_file.read_text())
        for key, value in current.items():
            if key in previous and previous[key] != value:
                raise ValueError(f"{work_dir} was started with a different {key}; use a fresh work_dir")
        current = previous | current
    if inputs and "pieces" not in current:
        current["pieces"] = [p.to_dict() for p in plan_pieces([Path(p) for p in inputs], max(1, workers))]
        write_json_atomic(run_file, current)
    elif not run_file.is_file():
        write_json_atomic(run_file, current)
    return current


def run_phase(
    name: str,
    recipe: Recipe,
    work_dir: Path,
    inputs: list[Path] | None = None,
    workers: int = 1,
    dedup_against: list[Path] | None = None,
    executor: ExecutorConfig | None = None,
    show_progress: bool = False,
    on_progress: OnProgress | None = None,
) -> dict[str, Any]:
    """Run one phase (resuming it, or skipping it when already done) and return its ``done.json`` entry.

    ``inputs`` (JSONL files) is needed by the ``read`` phase only; every later phase reads the
    previous one's output from ``work_dir``. ``dedup_against`` (dedup index files of earlier corpus
    versions) is used by the dedup phases only. ``show_progress`` draws a bar on stderr.
    """
    work_dir = Path(work_dir)
    if name == "read" and not inputs:
        raise ValueError("the read phase needs at least one input file")
    run = _check_run(work_dir, recipe, inputs if name == "read" else None, workers)
    phases = phase_plan(recipe)
    folder = phase_dir(work_dir, phases, name)
    index = [p.name for p in phases].index(name)
    if (folder / DONE).is_file():
        _prune(work_dir, phases, index)
        return json.loads((folder / DONE).read_text())
    previous = done_entry(work_dir, phases, phases[index - 1].name) if index else None
    if index and previous is None:
        raise RuntimeError(f"phase {name!r} needs phase {phases[index - 1].name!r} to finish first")
    pieces = [Piece.from_dict(d) for d in run["pieces"]]
    phase = phases[index]
    n_in = previous["documents"] if previous else None
    pipeline, spans = _pipeline(phases, index, work_dir, recipe, pieces, dedup_against)
    tasks = _phase_tasks(name, recipe, pieces)
    if name == DEDUP_BUCKETS:  # earlier corpus versions enter the buckets as one more signature rank
        write_against_signatures(recipe.dedup, work_dir / DEDUP_DIR, [Path(p) for p in dedup_against or []])
    started = time.perf_counter()
    with watch_phase(
        folder / "progress",
        label=f"{name} ({', '.join(phase.stages)})" if phase.stages else name,
        total_docs=n_in,
        total_bytes=sum(p.size for p in pieces) if name == "read" else None,
        enabled=show_progress,
        on_update=on_progress,
    ):
        make_executor(
            pipeline, tasks=tasks, workers=min(max(1, workers), tasks), logging_dir=folder / "logs", config=executor
        ).run()
    entry = _phase_entry(phase, folder, spans, n_in, time.perf_counter() - started)
    write_json_atomic(folder / DONE, entry)
    _prune(work_dir, phases, index)
    return entry


def _prune(work_dir: Path, phases: list[Phase], index: int) -> None:
    """Once a phase is done, delete the work files no later phase reads: the kept documents it read
    (its rejects stay for `finalize`), boilerplate's line keys once counted and its counts once applied,
    dedup's band files once bucketed, and its buckets and compressed
    texts once the clusters are replayed (the signature tables stay for the kept index). A run killed
    halfway through a deletion finishes it when it resumes."""
    phase = phases[index]
    spent: list[Path] = []
    if phase.moves_documents and index:
        spent.append(phase_dir(work_dir, phases, last_documents_phase(phases, index)) / "kept")
    if phase.name == BOILERPLATE_COUNTS:
        spent += [work_dir / BOILERPLATE_DIR / "lines", work_dir / BOILERPLATE_DIR / "pages"]
    if "boilerplate" in phase.stages:
        spent.append(work_dir / BOILERPLATE_DIR)
    if phase.name == DEDUP_BUCKETS:
        spent += [*(work_dir / DEDUP_DIR).glob("band_*"), work_dir / DEDUP_DIR / "exact"]
    if phase.name == DEDUP_CLUSTERS:
        spent += [work_dir / DEDUP_DIR / "buckets", work_dir / DEDUP_DIR / "texts"]
    for path in spent:
        shutil.rmtree(path, ignore_errors=True)


def _phase_tasks(name: str, recipe: Recipe, pieces: list[Piece]) -> int:
    """A phase's tasks: one per piece; boilerplate counts one per line-key partition; dedup buckets one
    per band at most (the exact hashes are one more band); the cluster replay one."""
    if name == BOILERPLATE_COUNTS:
        return partitions_for(len(pieces))
    if name == DEDUP_BUCKETS:
        return max(1, min(len(pieces), recipe.dedup.bands + 1))
    return 1 if name == DEDUP_CLUSTERS else len(pieces)


def _pipeline(
    phases: list[Phase],
    index: int,
    work_dir: Path,
    recipe: Recipe,
    pieces: list[Piece],
    dedup_against: list[Path] | None,
) -> tuple[list[PipelineStep], dict[str, tuple[int, int]]]:
    """One phase's datatrove pipeline and, per stage, the span of its steps in it."""
    phase = phases[index]
    folder = phase_dir(work_dir, phases, phase.name)
    dedup_dir, boilerplate_dir = work_dir / DEDUP_DIR, work_dir / BOILERPLATE_DIR
    if phase.name == BOILERPLATE_COUNTS:
        return [BoilerplateCounts(recipe.boilerplate, boilerplate_dir)], {}
    if phase.name == DEDUP_BUCKETS:
        return [DedupBuckets(recipe.dedup, dedup_dir)], {}
    if phase.name == DEDUP_CLUSTERS:
        return [DedupClusters(recipe.dedup, dedup_dir)], {}
    if index == 0:
        source: PipelineStep = JsonlSource(pieces)
    else:
        source = PartitionReader(phase_dir(work_dir, phases, last_documents_phase(phases, index)) / "kept")
    steps: list[PipelineStep] = [source, ProgressProbe(folder / "progress")]
    spans = {}
    for stage in phase.stages:
        rejects = WorkWriter(folder / "rejects" / stage)
        if stage == "dedup":
            stage_list: list[PipelineStep] = [DedupFilter(recipe.dedup, dedup_dir, exclusion_writer=rejects)]
        elif stage == "boilerplate":
            stage_list = [BoilerplateStrip(recipe.boilerplate, boilerplate_dir, exclusion_writer=rejects)]
        else:
            stage_list = stage_steps(stage, recipe, rejects)
        spans[stage] = (len(steps), len(steps) + len(stage_list))
        steps += stage_list
    following = next((p for p in phases[index + 1 :] if p.moves_documents), None)
    head = following.stages[0] if following else None
    if head == "dedup":
        steps.append(DedupSignatures(recipe.dedup, dedup_dir, file_order(sorted({p.name for p in pieces}))))
    if head == "boilerplate":
        steps.append(BoilerplateLines(recipe.boilerplate, boilerplate_dir, partitions_for(len(pieces))))
    steps.append(PartitionWriter(folder / "kept"))
    return steps, spans


def _phase_entry(
    phase: Phase, folder: Path, spans: dict[str, tuple[int, int]], n_in: int | None, seconds: float
) -> dict[str, Any]:
    """A phase's counts: per stage (stats.json entries) and the documents it hands on, checked."""
    entry: dict[str, Any] = {"phase": phase.name, "seconds": round(seconds, 3), "stages": []}
    if not phase.moves_documents:
        return entry | {"documents": n_in}
    stats = merged_step_stats(folder / "logs")
    n = int(stats[0].get("documents", 0)) if n_in is None and stats else n_in or 0
    for stage in phase.stages:
        start, end = spans[stage]
        stage_stats = stats[start:end] if stats else []
        entry["stages"].append(stage_entry(stage, n, reject_reasons(folder / "rejects" / stage), stage_stats))
        n = entry["stages"][-1]["kept"]
    written = count_records(folder / "kept")
    if written != n:
        raise AccountingError(f"phase {phase.name}: its last stage kept {n} documents but {written} were written")
    return entry | {"documents": n}


def curate(
    inputs: list[Path],
    out_dir: Path,
    recipe: Recipe | None = None,
    workers: int = 1,
    work_dir: Path | None = None,
    seconds_in_stats: bool = True,
    dedup_against: list[Path] | None = None,
    executor: ExecutorConfig | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Run every phase over JSONL ``inputs`` and write the corpus layout into ``out_dir``; return the stats.

    ``work_dir`` keeps the phases' files so an interrupted run resumes; without it a temporary folder
    is used and removed. ``seconds_in_stats=False`` leaves timings out of stats.json (they are still in
    the returned dict) so that the written files depend only on inputs and recipe.
    """
    recipe = recipe or load_recipe()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="garimpo-curate-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        for name in phase_names(recipe):
            run_phase(name, recipe, work, inputs, workers, dedup_against, executor, show_progress)
        return finalize(work, out_dir, recipe, seconds_in_stats=seconds_in_stats)


def input_key(inputs: list[Path], recipe: Recipe, dedup_against: list[str] | None = None) -> str:
    """Content key of a curation run: the input files' checksums, the recipe and the versions deduplicated
    against, never the inputs' paths."""
    settings = (
        recipe.to_dict()
        if not dedup_against
        else {"recipe": recipe.to_dict(), "dedup_against": dedup_against}
    )
    return fingerprint_inputs(inputs, settings)


def publish_corpus(
    store: ArtifactStore,
    name: str,
    inputs: list[Path],
    recipe: Recipe | None = None,
    workers: int = 1,
    work_dir: Path | None = None,
    dedup_against: list[Manifest] | None = None,
    executor: ExecutorConfig | None = None,
    show_progress: bool = False,
) -> Manifest:
    """Curate ``inputs`` and publish the result as ``corpus/<name>/<version>`` in ``store``.

    With ``work_dir``, phases already finished there are not run again, so a killed run resumes (and a
    caller can run the phases one by one first, as the Prefect flow does). When a version of ``name``
    was already built from the same input contents and recipe, it is returned without any work.
    stats.json inside the artifact carries no timings, so the version (a fingerprint of the files) is the same for the same
    inputs and recipe; the manifest's ``stats`` has the timings.

    ``dedup_against`` lists earlier corpus versions: documents that duplicate one of their kept
    documents are rejected too (``duplicate_of`` names the earlier document), using the small
    ``dedup_index.npy`` each version carries, never the earlier texts.
    """
    recipe = recipe or load_recipe()
    against = dedup_against or []
    index_files = [m.path_of(DEDUP_INDEX) for m in against]
    for manifest, path in zip(against, index_files, strict=True):
        if not path.is_file():
            raise ValueError(f"{manifest.ref} has no {DEDUP_INDEX}; it cannot be deduplicated against")
    key = input_key(inputs, recipe, [m.ref for m in against])
    done = store.find("corpus", name, input_fingerprint=key)
    if done is not None:
        return done
    with tempfile.TemporaryDirectory(prefix="garimpo-curate-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        for phase in phase_names(recipe):
            run_phase(phase, recipe, work, inputs, workers, index_files, executor, show_progress)

        def build(folder: Path) -> Built:
            stats = finalize(work, folder, recipe, seconds_in_stats=False)
            counts = {
                p.relative_to(folder).as_posix(): {"documents": parquet_rows(p)}
                for p in sorted(folder.rglob("*.parquet"))
            }
            return Built(counts=counts, stats=stats)

        config = {
            "recipe": recipe.to_dict(),
            "inputs": [Path(p).name for p in inputs],
            "input_fingerprint": key,
            "dedup_against": [m.ref for m in against],
        }
        parents = {f"dedup_against_{i}": m.ref for i, m in enumerate(against)}
        return store.publish("corpus", name, build, config=config, parents=parents)
