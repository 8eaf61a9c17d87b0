"""Curate JSONL sources into a corpus: read -> normalize -> boilerplate -> langid -> quality (-> classifier) -> pii -> dedup.

Each stage is one datatrove executor run (``stage_names`` lists them, ``run_stage`` runs one; local
processes or Ray, see ``pipelines/executors.py``; where it runs never changes the output), so a
Prefect flow can show every stage as its own task and a killed run resumes stage by stage (a finished
stage leaves ``done.json``; inside a stage datatrove's ``completions/`` skip finished ranks).
Stages hand documents to each other as gzipped JSONL under ``work_dir/NN_<stage>/kept``; what a stage
drops goes to ``rejects/`` through datatrove's exclusion writers. Every stage but boilerplate and dedup
runs ``workers`` tasks in parallel; those two run one task because each must see every document.

`finalize` turns the work folder into the corpus layout of ``docs/formats.md``: ``documents/*.parquet``,
``rejects/*.parquet`` (written by ``pipelines/corpus_files.py``, which its readers use too) and
``stats.json``. Rows are sorted by input order (input file, line) and files are cut at a fixed row
count, so the same inputs and recipe give byte-identical parquet files whatever the worker count, and
the published artifact version is stable.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from garimpo.core import ArtifactStore, Built, Manifest
from garimpo.core.manifest import fingerprint_inputs
from pipelines.corpus_files import parquet_rows, write_corpus_files
from pipelines.executors import ExecutorConfig, make_executor
from pipelines.external_sort import sorted_stream
from pipelines.recipe import Recipe, load_recipe
from pipelines.stages.accounting import REASON_KEY, iter_records, reject_reason, stage_counts, summarize
from pipelines.stages.boilerplate import BoilerplateRemover
from pipelines.stages.dedup import DedupIndex, Deduplicator
from pipelines.stages.langid import LanguageID
from pipelines.stages.normalize import TextNormalizer
from pipelines.stages.pii import PIIRedactor
from pipelines.stages.quality import fineweb_quality_filter, gopher_quality_filter, repetition_filter
from pipelines.stages.quality_model import QualityClassifier
from pipelines.stages.read import InputCheck, JsonlSource

DONE = "done.json"
RUN = "run.json"
# The kept documents' ids, exact hashes and MinHash signatures, shipped inside each corpus version so a
# later batch can be deduplicated against it cheaply (`publish_corpus(..., dedup_against=[...])`).
DEDUP_INDEX = "dedup_index.npy"


def stage_names(recipe: Recipe) -> list[str]:
    """The stages a run executes, in order: ``read`` then the recipe's stages."""
    return ["read", *recipe.stages]


def stage_steps(
    name: str,
    recipe: Recipe,
    rejects: JsonlWriter | None = None,
    dedup_against: list[Path] | None = None,
    dedup_index_out: Path | None = None,
) -> list[PipelineStep]:
    """The datatrove steps of one stage (without reader and writer); usable on in-memory Documents.

    ``dedup_against`` are earlier versions' dedup index files; ``dedup_index_out`` is where the dedup
    stage saves the index of what it kept.
    """
    lang = recipe.word_tokenizer
    steps: dict[str, Any] = {
        "read": lambda: [InputCheck(exclusion_writer=rejects)],
        # A text made only of invisible characters is empty once normalized: reject it here, not later.
        "normalize": lambda: [TextNormalizer(recipe.normalize), InputCheck(exclusion_writer=rejects)],
        "boilerplate": lambda: [BoilerplateRemover(recipe.boilerplate, exclusion_writer=rejects)],
        "langid": lambda: [LanguageID(recipe.language, recipe.langid, exclusion_writer=rejects)],
        "gopher_repetition": lambda: [repetition_filter(recipe.gopher_repetition, lang, rejects)],
        "gopher_quality": lambda: [gopher_quality_filter(recipe.gopher_quality, lang, rejects)],
        "fineweb_quality": lambda: [fineweb_quality_filter(recipe.fineweb_quality, lang, rejects)],
        "quality_classifier": lambda: [
            QualityClassifier(recipe.quality_classifier, exclusion_writer=rejects)
        ],
        "pii": lambda: [PIIRedactor(recipe.pii)],
        "dedup": lambda: [
            Deduplicator(
                recipe.dedup,
                exclusion_writer=rejects,
                against=[DedupIndex.load(Path(p)) for p in dedup_against or []],
                index_out=dedup_index_out,
            )
        ],
    }
    if name not in steps:
        raise ValueError(f"unknown stage {name!r}; expected one of {list(steps)}")
    return steps[name]()


def _stage_dir(work_dir: Path, recipe: Recipe, name: str) -> Path:
    names = stage_names(recipe)
    if name not in names:
        raise ValueError(f"stage {name!r} is not in this recipe's stages {names}")
    return work_dir / f"{names.index(name):02d}_{name}"


def _check_run(work_dir: Path, recipe: Recipe, inputs: list[Path] | None) -> None:
    """Refuse to resume a work folder that was started with another recipe or other inputs."""
    work_dir.mkdir(parents=True, exist_ok=True)
    run_file = work_dir / RUN
    current = {"recipe": recipe.to_dict()}
    if inputs is not None:
        current["inputs"] = sorted(str(Path(p).resolve()) for p in inputs)
    if run_file.is_file():
        previous = json.loads(run_file.read_text())
        for key, value in current.items():
            if key in previous and previous[key] != value:
                raise ValueError(f"{work_dir} was started with a different {key}; use a fresh work_dir")
        current = previous | current
    run_file.write_text(json.dumps(current, indent=1, ensure_ascii=False))


def run_stage(
    name: str,
    recipe: Recipe,
    work_dir: Path,
    inputs: list[Path] | None = None,
    workers: int = 1,
    dedup_against: list[Path] | None = None,
    executor: ExecutorConfig | None = None,
) -> dict[str, Any]:
    """Run one stage (resuming or skipping it when already done) and return its stats entry.

    ``inputs`` (JSONL files) is needed by the ``read`` stage only; every later stage reads the previous
    stage's kept documents from ``work_dir``. ``dedup_against`` (dedup index files of earlier corpus
    versions) is used by the ``dedup`` stage only.
    """
    work_dir = Path(work_dir)
    _check_run(work_dir, recipe, inputs if name == "read" else None)
    stage_dir = _stage_dir(work_dir, recipe, name)
    if (stage_dir / DONE).is_file():
        return json.loads((stage_dir / DONE).read_text())
    names = stage_names(recipe)
    n_in = None
    if name == "read":
        if not inputs:
            raise ValueError("the read stage needs at least one input file")
        source: PipelineStep = JsonlSource([Path(p) for p in inputs])
        has_input = True
    else:
        previous = _stage_dir(work_dir, recipe, names[names.index(name) - 1])
        if not (previous / DONE).is_file():
            raise RuntimeError(f"stage {name!r} needs stage {previous.name!r} to finish first")
        n_in = json.loads((previous / DONE).read_text())["kept"]
        source = JsonlReader(
            str(previous / "kept"), glob_pattern="*.jsonl.gz", recursive=False, add_file_path=False
        )
        has_input = n_in > 0
    # Dedup and boilerplate (per-site line counts) see every document in one task; other stages split
    # the files over `workers` tasks.
    tasks = 1 if name in ("dedup", "boilerplate") else max(1, workers)
    started = time.perf_counter()
    if has_input:
        rejects = JsonlWriter(str(stage_dir / "rejects"), output_filename="${rank}.jsonl.gz")
        kept = JsonlWriter(str(stage_dir / "kept"), output_filename="${rank}.jsonl.gz")
        steps = stage_steps(name, recipe, rejects, dedup_against, stage_dir / DEDUP_INDEX)
        pipeline = [source, *steps, kept]
        make_executor(
            pipeline, tasks=tasks, workers=tasks, logging_dir=stage_dir / "logs", config=executor
        ).run()
    entry = stage_counts(name, stage_dir / "kept", stage_dir / "rejects", n_in, time.perf_counter() - started)
    stage_dir.mkdir(parents=True, exist_ok=True)  # a stage that received no document ran nothing
    (stage_dir / DONE).write_text(json.dumps(entry, indent=1))
    return entry


def finalize(work_dir: Path, out_dir: Path, recipe: Recipe, seconds_in_stats: bool = True) -> dict[str, Any]:
    """Write the corpus layout from a work folder whose stages are all done; return the stats."""
    work_dir, out_dir = Path(work_dir), Path(out_dir)
    entries = []
    for name in stage_names(recipe):
        done = _stage_dir(work_dir, recipe, name) / DONE
        if not done.is_file():
            raise RuntimeError(f"stage {name!r} has not finished; run it before finalize")
        entries.append(json.loads(done.read_text()))
    stats = summarize(entries)

    last = _stage_dir(work_dir, recipe, stage_names(recipe)[-1])
    documents = (_row(r) for r in iter_records(last / "kept"))
    rejects = (
        _row(r, stage=name)
        for name in stage_names(recipe)
        for r in iter_records(_stage_dir(work_dir, recipe, name) / "rejects")
    )
    # Input order with bounded memory: sorted runs on disk, merged while the parquet files are written.
    with tempfile.TemporaryDirectory(prefix="sort-", dir=work_dir) as spill:
        write_corpus_files(
            out_dir,
            sorted_stream(documents, _order, Path(spill) / "documents"),
            sorted_stream(rejects, _order, Path(spill) / "rejects"),
            rows_per_file=recipe.output.rows_per_file,
            compression=recipe.output.compression,
        )
    index = _stage_dir(work_dir, recipe, "dedup") / DEDUP_INDEX if "dedup" in recipe.stages else None
    if index is not None and index.is_file():
        shutil.copyfile(index, out_dir / DEDUP_INDEX)
    written = stats if seconds_in_stats else _without_seconds(stats)
    (out_dir / "stats.json").write_text(json.dumps(written, indent=1, ensure_ascii=False) + "\n")
    return stats


def curate(
    inputs: list[Path],
    out_dir: Path,
    recipe: Recipe | None = None,
    workers: int = 1,
    work_dir: Path | None = None,
    seconds_in_stats: bool = True,
    dedup_against: list[Path] | None = None,
    executor: ExecutorConfig | None = None,
) -> dict[str, Any]:
    """Run every stage over JSONL ``inputs`` and write the corpus layout into ``out_dir``; return the stats.

    ``work_dir`` keeps the per-stage files so an interrupted run resumes; without it a temporary folder
    is used and removed. ``seconds_in_stats=False`` leaves timings out of stats.json (they are still in
    the returned dict) so that the written files depend only on inputs and recipe.
    """
    recipe = recipe or load_recipe()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="garimpo-curate-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        for name in stage_names(recipe):
            run_stage(name, recipe, work, inputs, workers, dedup_against, executor)
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
) -> Manifest:
    """Curate ``inputs`` and publish the result as ``corpus/<name>/<version>`` in ``store``.

    With ``work_dir``, stages already finished there are not run again, so a killed run resumes (and a
    caller can run the stages one by one first, as the Prefect flow does). When a version of ``name``
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
        for stage in stage_names(recipe):
            run_stage(stage, recipe, work, inputs, workers, index_files, executor)

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


def _row(record: dict[str, Any], stage: str | None = None) -> dict[str, Any]:
    metadata = dict(record.get("metadata", {}))
    row = {"id": record["id"], "text": record.get("text", ""), "source": str(metadata.pop("source", ""))}
    if stage is not None:
        row["stage"] = stage
        row["reason"] = reject_reason(record)
        metadata.pop(REASON_KEY, None)
    row["_order"] = (metadata.get("input_file", ""), metadata.get("input_line", 0), record["id"])
    row["metadata"] = json.dumps(metadata, ensure_ascii=False, sort_keys=True)
    return row


def _order(row: dict[str, Any]) -> tuple[str, int, str]:
    """Input order (input file, line, id): the order rows are written in, whatever the worker count."""
    return row["_order"]


def _without_seconds(stats: dict[str, Any]) -> dict[str, Any]:
    return {**stats, "stages": [{**s, "seconds": None} for s in stats["stages"]]}
