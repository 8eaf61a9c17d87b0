"""Curation's stages grouped into datatrove runs ("phases"), and the pipeline each run executes.

Why phases rather than one executor run per stage: a run re-reads and re-writes the whole corpus,
and most stages look at one document at a time, so they belong in one pipeline per task, each
with its own exclusion writer (datatrove's FineWeb layout). Only two stages need more than one
document at once, and each is a small map-reduce on the same executor:

- ``boilerplate`` counts lines per site: the phase before it ends with a step that records every
  page's line keys (`BoilerplateLines`), the ``boilerplate-counts`` phase (no documents) merges them
  into the frequent keys and the sites' page counts, and the ``boilerplate`` stage then strips those
  lines document by document, at the head of the ``filter`` phase (``pipelines/stages/boilerplate_phases.py``);
- ``dedup`` compares every document with every other: the phase before it ends with a signature
  step (`DedupSignatures`), two phases without documents find and replay the duplicate clusters
  (``dedup-buckets`` on many tasks, ``dedup-clusters`` on one, holding only the documents that
  share a band with another), and the ``dedup`` phase applies the decisions, task by task.

So the shipped recipe runs as ``read`` (read + normalize), ``boilerplate-counts``, ``filter``
(boilerplate, langid, the three quality filters, PII), ``dedup-buckets``, ``dedup-clusters``,
``dedup``: every phase on all workers, whatever the number of sites. Each documents phase writes
``kept/<rank>/<rank>.jsonl.gz``; task ``p`` of the next phase reads ``kept/<p>/``. Within a task
documents stay in input order (input file, line), which is what dedup's "first copy wins" and the
corpus files' order rest on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers import JsonlWriter

from pipelines.recipe import Recipe
from pipelines.stages.boilerplate import BoilerplateRemover
from pipelines.stages.dedup import DedupIndex, Deduplicator
from pipelines.stages.langid import LanguageID
from pipelines.stages.normalize import TextNormalizer
from pipelines.stages.pii import PIIRedactor
from pipelines.stages.quality import fineweb_quality_filter, gopher_quality_filter, repetition_filter
from pipelines.stages.quality_model import QualityClassifier
from pipelines.stages.read import InputCheck
from pipelines.work_files import SUFFIX, WorkWriter, read_records

# Stages that need more than one document at a time: each starts a phase.
GROUPED = ("boilerplate", "dedup")
# Phases that move no documents: boilerplate's line counts, dedup's candidate search and cluster replay.
BOILERPLATE_COUNTS, DEDUP_BUCKETS, DEDUP_CLUSTERS = "boilerplate-counts", "dedup-buckets", "dedup-clusters"
# The phase that strips boilerplate and runs the per-document stages after it.
FILTER = "filter"


@dataclass(frozen=True)
class Phase:
    """One datatrove run: its name (work-folder and Prefect task name) and the stages it executes."""

    name: str
    stages: tuple[str, ...]

    @property
    def moves_documents(self) -> bool:
        return bool(self.stages)


def phase_plan(recipe: Recipe) -> list[Phase]:
    """The phases a run executes, in order: ``read`` with the stages up to the first grouped stage,
    then one phase per grouped stage with the per-document stages that follow it."""
    groups: list[list[str]] = []
    for stage in ["read", *recipe.stages]:
        if stage in GROUPED or not groups:
            groups.append([])
        groups[-1].append(stage)
    phases = []
    for group in groups:
        if group[0] == "dedup":
            phases += [Phase(DEDUP_BUCKETS, ()), Phase(DEDUP_CLUSTERS, ())]
        if group[0] == "boilerplate":
            phases += [Phase(BOILERPLATE_COUNTS, ()), Phase(FILTER, tuple(group))]
        else:
            phases.append(Phase(group[0], tuple(group)))
    return phases


def stage_steps(
    name: str,
    recipe: Recipe,
    rejects: JsonlWriter | None = None,
    dedup_against: list[Path] | None = None,
    dedup_index_out: Path | None = None,
) -> list[PipelineStep]:
    """The datatrove steps of one stage (without reader and writer); usable on in-memory Documents.

    For ``dedup`` this is the single-process `Deduplicator` (tests, benchmarks, small in-memory
    sets); a curation run uses the dedup phases instead, which give the same decisions.
    """
    lang = recipe.word_tokenizer
    steps: dict[str, Callable[[], list[PipelineStep]]] = {
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


class PartitionWriter(WorkWriter):
    """Writes ``<rank>/<rank>.jsonl.gz``: the folder task ``rank`` of the next phase reads."""

    name = "🗂 Partitioned JSONL"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, output_filename="${rank}/${rank}" + SUFFIX)


class PartitionReader(PipelineStep):
    """Task ``p`` reads ``folder/<p>/*.jsonl.gz`` in rank order (a partition may be absent: no documents)."""

    name = "🗂 Partition reader"
    type = "📖 - READER"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = str(folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for path in sorted((Path(self.folder) / f"{rank:05d}").glob(f"*{SUFFIX}")):
            for record in read_records(path):
                self.stat_update("documents")
                yield Document(text=record.get("text", ""), id=record["id"], metadata=record.get("metadata", {}))
