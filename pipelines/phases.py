"""Curation's stages grouped into datatrove runs ("phases"), and the pipeline each run executes.

Why phases rather than one executor run per stage: a run re-reads and re-writes the whole corpus,
and most stages look at one document at a time, so they belong in one pipeline per task, each
with its own exclusion writer (datatrove's FineWeb layout). Only two stages need more than one
document at once, and a phase starts at each of them:

- ``boilerplate`` counts lines per site, so the phase before it writes its output partitioned by
  site (a stable hash of the site name; `site_partition`): every page of a site lands in one task,
  and the result does not depend on how many tasks there are. A corpus of few sites (one JSONL
  source without urls is one site) would then leave one core busy, so boilerplate is a phase of its
  own that spreads its output over all partitions again (`spread_partition`), and the per-document
  stages after it run as the ``filter`` phase on every worker;
- ``dedup`` compares every document with every other: the phase before it ends with a signature
  step (`DedupSignatures`), two phases without documents find and replay the duplicate clusters
  (``dedup-buckets`` on many tasks, ``dedup-clusters`` on one, holding only the documents that
  share a band with another), and the ``dedup`` phase applies the decisions, task by task.

So the shipped recipe runs as ``read`` (read + normalize), ``boilerplate``, ``filter`` (langid,
the three quality filters, PII), ``dedup-buckets``, ``dedup-clusters``, ``dedup``: every phase
on all workers. Each documents phase writes ``kept/<partition>/<rank>.jsonl.gz``; task ``p`` of
the next phase reads ``kept/<p>/`` in rank order. Within a task documents stay in input order
(input file, line), which is what dedup's "first copy wins" and the corpus files' order rest on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers import JsonlWriter

from pipelines.recipe import Recipe
from pipelines.stages.boilerplate import BoilerplateRemover, document_site
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
# Phases that move no documents: dedup's candidate search and cluster replay.
DEDUP_BUCKETS, DEDUP_CLUSTERS = "dedup-buckets", "dedup-clusters"
# The per-document stages after boilerplate, split off so that they run on every worker.
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
        if group[0] == "boilerplate" and len(group) > 1:
            phases += [Phase("boilerplate", ("boilerplate",)), Phase(FILTER, tuple(group[1:]))]
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


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def site_partition(doc: Document, partitions: int) -> int:
    """The partition a document's site goes to: a stable hash, the same on every machine and run."""
    return _stable_hash(document_site(doc)) % partitions


def spread_partition(doc: Document, partitions: int) -> int:
    """A partition by the document's id: pages of one site spread evenly, the same on every run."""
    return _stable_hash(doc.id) % partitions


Partitioning = Callable[[Document, int], int]


def output_partitioning(phase: Phase, following: Phase | None) -> Partitioning | None:
    """How a phase splits its output for the next: by site before boilerplate, spread again after a
    boilerplate-only phase, else by rank (None)."""
    if following is not None and following.stages[0] == "boilerplate":
        return site_partition
    if phase.stages == ("boilerplate",):
        return spread_partition
    return None


class PartitionWriter(WorkWriter):
    """Writes ``<partition>/<rank>.jsonl.gz``: partition = ``by(document, partitions)``, or the rank."""

    name = "🗂 Partitioned JSONL"

    def __init__(self, folder: Path, partitions: int | None = None, by: Partitioning = site_partition) -> None:
        super().__init__(folder)
        self.partitions = partitions
        self.by = by

    def _get_output_filename(self, document: Document, rank: int | str = 0, **kwargs: Any) -> str:
        # (datatrove also asks with rank "XXXXX", for the name its stats file it counts under)
        task = str(rank).zfill(5)
        part = task if self.partitions is None else f"{self.by(document, self.partitions):05d}"
        return f"{part}/{task}{SUFFIX}"


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
