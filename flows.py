"""Prefect flows: the thin layer that wires garimpo's library code into runs, schedules and artifacts.

Flows take typed (pydantic) parameters, call `pipelines/` and `train/` as tasks so the Prefect UI
shows each step, and publish what happened as table and markdown artifacts. All real work lives in
the packages, which never import Prefect, so the same code runs from the CLI, a notebook or a test.
It is over 400 lines because every deployment entrypoint (`flows.py:clean_corpus`, ...), the typed
parameters of each flow and the Prefect side of publishing (the `garimpo.<kind>.published` events,
the assets, the trigger of `train/on-new-shards`) live in this one module, the one Prefect and
`prefect.yaml` name; each flow itself stays a few lines that call the packages.

    python -m flows serve          # serve the deployments (clean-corpus/default, build-shards/default,
                                   # rebuild-shards/nightly at 03:00 UTC, train/default,
                                   # train/on-new-shards on every new shard version) in one process
    prefect deployment run clean-corpus/default --watch
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from pydantic import BaseModel, Field

from garimpo.core import ArtifactError, ArtifactStore, Manifest, lineage, verify
from garimpo.core.formats import MAX_TOKEN_ID, SPECIAL_TOKENS
from garimpo.core.fs import remove_tree
from garimpo.core.manifest import json_sha256
from garimpo.core.report import format_table, stage_rows
from garimpo.core.settings import config_path
from pipelines.executors import ExecutorConfig
from pipelines.recipe import DEFAULT_RECIPE
from pipelines.shards import ShardSettings, load_shard_settings
from train.config import DEFAULT_CONFIG
from train.eval_suite import DEFAULT_EVAL

DEFAULT_SHARDS = load_shard_settings()  # the shipped garimpo/configs/shards/default.toml
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SAMPLE_INPUTS = "sample"
NIGHTLY_CRON = "0 3 * * *"


class SourceParams(BaseModel):
    """A declared source: the reader is chosen by ``format``, never guessed per file."""

    path: str = Field(description="file, folder or glob")
    format: Literal["jsonl", "parquet", "text", "html", "warc", "pdf", "wiki", "epub"]
    name: str = Field(pattern=NAME_PATTERN)
    license: str = "unknown"


class CorpusOptions(BaseModel):
    """What a corpus is made of and where artifacts go (shared by `clean-corpus` and `rebuild-shards`)."""

    name: str = Field("demo", pattern=NAME_PATTERN)
    inputs: list[str] = Field(
        default_factory=lambda: [SAMPLE_INPUTS],
        description="JSONL files or globs; 'sample' writes and uses the shipped sample corpus.",
    )
    sources: list[SourceParams] = Field(
        default_factory=list,
        description="declared sources (html, pdf, wiki, epub, ...) read and cleaned before curation",
    )
    recipe: str = Field(DEFAULT_RECIPE, description="shipped recipe name or a recipe TOML path")
    workers: int = Field(1, ge=1, le=256)
    artifacts: str = "artifacts"


class ShardOptions(BaseModel):
    """How a corpus is sharded (shared by `build-shards` and `rebuild-shards`); defaults come from the
    shipped shard settings file, written nowhere else."""

    vocab_size: int = Field(DEFAULT_SHARDS.vocab_size, ge=len(SPECIAL_TOKENS) + 256, le=MAX_TOKEN_ID)
    val_fraction: float = Field(DEFAULT_SHARDS.val_fraction, gt=0.0, lt=0.5)
    max_tokens_per_shard: int = Field(DEFAULT_SHARDS.max_tokens_per_shard, ge=1024)
    mix: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SHARDS.mix), description="per-source weights of the corpus"
    )
    mix_seed: int = DEFAULT_SHARDS.mix_seed

    def shard_settings(self) -> ShardSettings:
        return DEFAULT_SHARDS.replace(**self.model_dump(include=set(ShardOptions.model_fields)))


class CleanCorpusParams(CorpusOptions):
    """Parameters of `clean-corpus`: which sources, which recipe, where artifacts go."""

    dedup_against: list[str] = Field(
        default_factory=list,
        description="earlier corpus versions (corpus/<name>[/<version>]) this batch must not duplicate",
    )
    executor: Literal["local", "ray", "slurm"] = "local"
    ray_address: str | None = Field(None, description="ray cluster address; a local instance when empty")
    slurm_partition: str | None = Field(None, description="Slurm partition (executor 'slurm')")
    slurm_time: str = Field("24:00:00", description="Slurm time limit of each task (executor 'slurm')")

    def executor_config(self) -> ExecutorConfig:
        return ExecutorConfig(
            kind=self.executor,
            ray_address=self.ray_address,
            slurm_partition=self.slurm_partition,
            slurm_time=self.slurm_time,
        )


class BuildShardsParams(ShardOptions):
    """Parameters of `build-shards`: a corpus version, an optional tokenizer, shard settings."""

    name: str = Field("demo", pattern=NAME_PATTERN)
    corpus: str = Field("latest", description="corpus version of corpus/<name>, or 'latest'")
    tokenizer: str | None = Field(None, description="tokenizer/<name>/<version> ref; trained when empty")
    instruct: str | None = Field(
        "latest", description="instruct version of instruct/<name> rendered with loss masks; '' for none"
    )
    workers: int = Field(1, ge=1, le=256)
    artifacts: str = "artifacts"


class TrainParams(BaseModel):
    """Parameters of `train`: a shards reference (name or name/version) and a training config."""

    shards: str = Field("demo", description="shards name, optionally name/version (default: latest)")
    config: str = Field(DEFAULT_CONFIG, description="shipped training config name or a TOML path")
    run_name: str | None = None
    max_steps: int | None = Field(None, ge=1)
    allow_new_shards: bool = Field(
        False, description="continue an existing run on a newer shard version (recorded in its lineage)"
    )
    continue_from: str | None = Field(
        None, description="start a new run from this run's or checkpoint's weights"
    )
    on_new_version: Literal["continue", "new"] | None = Field(
        None,
        description="for runs started by a new shard version: 'continue' the latest run on this shards "
        "name for max_steps more steps (its lineage records the new version), or start a 'new' run "
        "<name>-<version>; empty: run_name and allow_new_shards as given",
    )
    prompt: str = "O Brasil é"
    artifacts: str = "artifacts"


class FollowShards(BaseModel):
    """What `train/on-new-shards` does when a new version of the shards ``shards`` is published."""

    shards: str = Field("demo", pattern=NAME_PATTERN, description="the shards name whose new versions train")
    policy: Literal["continue", "new"] = Field(
        "continue", description="continue the latest run on the new version, or start a new run"
    )
    steps: int | None = Field(
        None, ge=1, description="optimizer steps per new version; the training config's max_steps when empty"
    )
    config: str = Field(DEFAULT_CONFIG, description="shipped training config name or a TOML path")


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what a second attempt can fix (a dropped connection, a timeout), never bad data."""
    try:
        state.result()
    except (ConnectionError, TimeoutError, BlockingIOError, InterruptedError):
        return True
    except Exception:
        return False
    return False


RETRIES: dict[str, Any] = {"retries": 2, "retry_delay_seconds": 5, "retry_condition_fn": _transient}


def _report(manifest: Manifest, what: str, rows: list[dict[str, Any]], details: str) -> None:
    """Publish a run's table and a markdown report naming the manifest, and print both."""
    create_table_artifact(key=_key(what, manifest.name), table=rows, description=f"{what} of {manifest.ref}")
    create_markdown_artifact(
        key=_key(manifest.kind, manifest.name, "manifest"),
        markdown=f"# {manifest.ref}\n\nmanifest: `{manifest.root}/manifest.json`\n\n{details}\n",
    )
    print(format_table(rows))
    print(f"{manifest.kind}: {manifest.ref} at {manifest.root}")


def _key(*parts: str) -> str:
    """Prefect artifact keys allow only [a-z0-9-]."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def _asset_key(ref: str) -> str:
    """The Prefect asset (and event resource) of a version: ``garimpo://kind/name/version``."""
    return f"garimpo://{ref}"


def _versions(store: ArtifactStore, kind: str, name: str) -> set[str]:
    """The versions of ``kind/name`` published so far (to tell a new version from a rerun)."""
    return {m.version for m in store.versions(kind, name)}


def _emit_published(event: str, resource: dict[str, str], related: list[dict[str, str]]) -> None:
    from prefect.events import emit_event

    emit_event(event=event, resource=resource, related=related)


def _announce(store: ArtifactStore, ref: str, parents: dict[str, str], url: str | None = None) -> None:
    """Tell Prefect a new version exists: event ``garimpo.<kind>.published`` and an asset materialization.

    The event's resource names ``kind/name/version`` (and the store it lives in, so a triggered run
    reads the same one); its related resources are the parents. The same version is materialized as
    the asset ``garimpo://<ref>`` with its parents as upstream assets, so the asset graph carries the
    lineage too.
    """
    from prefect.assets import Asset, AssetProperties, materialize

    kind, name, version = ref.split("/")
    resource = {
        "prefect.resource.id": _asset_key(ref),
        "prefect.resource.name": ref,
        "garimpo.kind": kind,
        "garimpo.name": name,
        "garimpo.version": version,
        "garimpo.ref": ref,
        "garimpo.store": str(store.root.resolve()),
    }
    related = [
        {"prefect.resource.id": _asset_key(p), "prefect.resource.role": role.replace(" ", "-")}
        for role, p in sorted(parents.items())
    ]
    asset = Asset(key=_asset_key(ref), properties=AssetProperties(name=ref, url=url))
    record = materialize(
        asset, asset_deps=[_asset_key(p) for p in parents.values()], name=f"publish-{kind}", task_run_name=ref
    )(_emit_published)
    record(f"garimpo.{kind}.published", resource, related)


def _corpus_report(manifest: Manifest, new: bool) -> Path:
    """The corpus version's HTML report, written when the version is new or has none yet."""
    from pipelines.reports import corpus_report_path, write_corpus_report

    path = corpus_report_path(manifest)
    return write_corpus_report(manifest) if new or not path.is_file() else path


@task(name="write-sample-corpus")
def write_sample_task(artifacts: str) -> dict[str, list[str]]:
    from pipelines.sample_corpus import write_sample_corpus

    out = Path(artifacts) / "inputs" / "sample"
    write_sample_corpus(out)
    files = sorted(out.glob("*.jsonl"))
    return {
        "text": [str(p) for p in files if p.name != "instruct.jsonl"],
        "instruct": [str(p) for p in files if p.name == "instruct.jsonl"],
    }


@task(name="read-sources", **RETRIES)
def read_sources_task(params: CleanCorpusParams) -> list[str]:
    """Format readers and web/PDF cleanup → JSONL documents plus JSONL rejections (both curated)."""
    from pipelines.sources import SourceSpec, write_jsonl
    from pipelines.sources.readers import rejects_path_for

    out = Path(params.artifacts) / "inputs" / params.name / "sources.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl([SourceSpec(**s.model_dump()) for s in params.sources], out)
    return [str(out), str(rejects_path_for(out))]


def _work_dir(params: CleanCorpusParams, key: str) -> Path:
    return Path(params.artifacts) / ".work" / f"corpus-{params.name}-{key[:12]}"


def _against(params: CleanCorpusParams) -> list[Manifest]:
    store = ArtifactStore(params.artifacts)
    return [store.load_ref(ref) for ref in params.dedup_against]


@task(name="curation-phase", task_run_name="{phase}", **RETRIES)
def phase_task(phase: str, params: CleanCorpusParams, inputs: list[str], key: str) -> dict[str, Any]:
    """One curation phase; its progress (documents, rate) is a Prefect progress artifact."""
    from pipelines.curate import DEDUP_INDEX, run_phase
    from pipelines.recipe import load_recipe

    artifact = create_progress_artifact(0.0, description=f"curation phase {phase}: starting")
    shown = [0.0]

    def on_progress(fraction: float, text: str) -> None:
        if fraction == fraction:  # NaN while no total is known: keep the last figure, new text
            shown[0] = min(100.0, 100.0 * fraction)
        update_progress_artifact(artifact_id=artifact, progress=shown[0], description=text)

    return run_phase(
        phase,
        load_recipe(params.recipe),
        _work_dir(params, key),
        [Path(p) for p in inputs],
        params.workers,
        [m.path_of(DEDUP_INDEX) for m in _against(params)],
        params.executor_config(),
        on_progress=on_progress,
    )


@task(name="publish-corpus")
def publish_corpus_task(params: CleanCorpusParams, inputs: list[str], key: str) -> Manifest:
    from pipelines.curate import publish_corpus
    from pipelines.recipe import load_recipe

    work = _work_dir(params, key)
    manifest = publish_corpus(
        ArtifactStore(params.artifacts),
        params.name,
        [Path(p) for p in inputs],
        load_recipe(params.recipe),
        params.workers,
        work,
        dedup_against=_against(params),
        executor=params.executor_config(),
    )
    remove_tree(work)
    return manifest


@task(name="curate-instructions")
def instruct_task(params: CleanCorpusParams, inputs: list[str]) -> Manifest:
    from pipelines.instruct import publish_instructions

    return publish_instructions(ArtifactStore(params.artifacts), params.name, [Path(p) for p in inputs])


@flow(name="clean-corpus", log_prints=True)
def clean_corpus(params: CleanCorpusParams = CleanCorpusParams()) -> str:  # noqa: B008
    """Sources → normalize → language ID → quality → PII → dedup → a published corpus version.

    Each phase (a few stages in one datatrove run, see pipelines/phases.py) is its own task, with a
    progress artifact. Work is keyed on the inputs' content and the recipe: a rerun with unchanged
    inputs returns the published version at once, and a killed run resumes at the first unfinished
    phase.
    """
    from pipelines.curate import input_key, phase_names
    from pipelines.recipe import load_recipe

    inputs = [p for p in params.inputs if p != SAMPLE_INPUTS]
    instruct_inputs: list[str] = []
    if SAMPLE_INPUTS in params.inputs:
        sample = write_sample_task(params.artifacts)
        inputs += sample["text"]
        instruct_inputs += sample["instruct"]
    if params.sources:
        inputs += read_sources_task(params)
    recipe = load_recipe(params.recipe)
    key = input_key([Path(p) for p in inputs], recipe, [m.ref for m in _against(params)])
    store = ArtifactStore(params.artifacts)
    if store.find("corpus", params.name, input_fingerprint=key) is None:
        for phase in phase_names(recipe):
            phase_task(phase, params, inputs, key)
    before = _versions(store, "corpus", params.name)
    manifest = publish_corpus_task(params, inputs, key)
    report = _corpus_report(manifest, manifest.version not in before)
    if manifest.version not in before:
        _announce(store, manifest.ref, manifest.parents, report.resolve().as_uri())
    rows = stage_rows(manifest.stats)
    if instruct_inputs:
        before = _versions(store, "instruct", params.name)
        instruct = instruct_task(params, instruct_inputs)
        if instruct.version not in before:
            _announce(store, instruct.ref, instruct.parents)
        rows += stage_rows(instruct.stats)
        print(f"instructions: {instruct.ref} at {instruct.root}")
    details = f"report: [{report.name}]({report.resolve().as_uri()})\n\n```\n{format_table(rows)}\n```"
    _report(manifest, "curation", rows, details)
    print(f"report: {report.resolve()}")
    return manifest.ref


@task(name="train-tokenizer", **RETRIES)
def tokenizer_task(params: BuildShardsParams, corpus_ref: str) -> Manifest:
    from pipelines.tokenizer import publish_tokenizer

    store = ArtifactStore(params.artifacts)
    return publish_tokenizer(store, params.name, store.load_ref(corpus_ref), params.vocab_size)


@task(name="write-shards", **RETRIES)
def shards_task(
    params: BuildShardsParams, corpus_ref: str, tokenizer_ref: str, instruct_ref: str | None
) -> Manifest:
    from pipelines.shards import build_shards

    store = ArtifactStore(params.artifacts)
    return build_shards(
        store,
        params.name,
        store.load_ref(corpus_ref),
        store.load_ref(tokenizer_ref),
        instruct=store.load_ref(instruct_ref) if instruct_ref else None,
        settings=params.shard_settings(),
        workers=params.workers,
    )


@flow(name="build-shards", log_prints=True)
def build_shards(params: BuildShardsParams = BuildShardsParams()) -> str:  # noqa: B008
    """Corpus version + tokenizer (trained when not given) → a published shard version."""
    store = ArtifactStore(params.artifacts)
    corpus_ref = f"corpus/{params.name}/{store.resolve('corpus', params.name, params.corpus)}"
    tokenizer_ref = params.tokenizer
    if not tokenizer_ref:
        before = _versions(store, "tokenizer", params.name)
        tokenizer = tokenizer_task(params, corpus_ref)
        if tokenizer.version not in before:
            _announce(store, tokenizer.ref, tokenizer.parents)
        tokenizer_ref = tokenizer.ref
    instruct_ref = None
    if params.instruct and (store.root / "instruct" / params.name).is_dir():
        instruct_ref = f"instruct/{params.name}/{store.resolve('instruct', params.name, params.instruct)}"
    before = _versions(store, "shards", params.name)
    manifest = shards_task(params, corpus_ref, tokenizer_ref, instruct_ref)
    if manifest.version not in before:
        _announce(store, manifest.ref, manifest.parents)
    rows = [
        {"source": source, "split": split, **v}
        for source, splits in sorted(manifest.extra.get("sources", {}).items())
        for split, v in sorted(splits.items())
    ]
    _report(manifest, "shards", rows, f"parents: {manifest.parents}")
    return manifest.ref


class RebuildShardsParams(CorpusOptions, ShardOptions):
    """Parameters of `rebuild-shards`: the sources of a corpus and how to shard it (for schedules)."""


def _raw_fingerprint(params: RebuildShardsParams) -> str:
    """Content fingerprint of every raw input file plus the settings that shape the shards."""
    from garimpo.core.manifest import fingerprint_inputs
    from pipelines.sources import SourceSpec
    from pipelines.sources.readers import iter_files

    files = [Path(p) for p in params.inputs if p != SAMPLE_INPUTS]
    for s in params.sources:
        files += [path for path, _ in iter_files(SourceSpec(**s.model_dump()))]
    settings = params.model_dump(exclude={"artifacts", "workers"})
    settings["recipe_text"] = config_path("recipes", params.recipe).read_text()
    return fingerprint_inputs(sorted(files), settings)


@flow(name="rebuild-shards", log_prints=True)
def rebuild_shards(params: RebuildShardsParams = RebuildShardsParams()) -> str:  # noqa: B008
    """Scheduled rebuild: does nothing when no source changed since the last rebuild.

    Otherwise it re-curates (unchanged documents come out identical) and writes a new shard version
    with the tokenizer the latest shards used, so a model can keep training on the new version.
    """
    store = ArtifactStore(params.artifacts)
    state_file = store.root / ".state" / f"rebuild-{params.name}.json"
    key = _raw_fingerprint(params)
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        try:
            previous = store.load_ref(state["shards"])
        except ArtifactError:
            previous = None
        if state.get("key") == key and previous is not None and not verify(previous, checksums=False):
            print(f"sources unchanged since {previous.ref}; nothing to do")
            return previous.ref
    corpus_ref = clean_corpus(CleanCorpusParams(**params.model_dump(include=set(CorpusOptions.model_fields))))
    tokenizer = None
    if (store.root / "shards" / params.name / "latest").is_file():
        tokenizer = store.load("shards", params.name).parents.get("tokenizer")
    shards_ref = build_shards(
        BuildShardsParams(
            **params.model_dump(include=set(ShardOptions.model_fields)),
            name=params.name,
            corpus=corpus_ref.rsplit("/", 1)[1],
            tokenizer=tokenizer,
            workers=params.workers,
            artifacts=params.artifacts,
        )
    )
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"key": key, "shards": shards_ref}) + "\n")
    return shards_ref


@task(name="train-model")
def train_task(params: TrainParams) -> dict[str, Any]:
    from model.gpt import GPTConfig
    from train.config import TrainConfig
    from train.plan import plan_rows
    from train.trainer import train as run_training

    cfg = TrainConfig.from_toml(params.config, max_steps=params.max_steps)
    result = run_training(
        cfg,
        params.shards,
        artifacts_root=params.artifacts,
        run_name=params.run_name,
        allow_new_shards=params.allow_new_shards,
        continue_from=params.continue_from,
    )
    # the memory plan of this config on each known GPU (what `garimpo train --plan` prints)
    memory_plan = plan_rows(cfg, GPTConfig.from_dict(result.model_config))
    return {**result.__dict__, "plan": memory_plan}


@task(name="generate-sample")
def sample_task(run_dir: str, prompt: str) -> str:
    from train.sample import generate_text

    return generate_text(run_dir, prompt, max_new_tokens=40, temperature=0.8, top_k=50, seed=0)


def _follow(params: TrainParams) -> TrainParams:
    """Turn a run started by a new shard version into a concrete run (``on_new_version``).

    'continue' picks the run that last trained on this shards name and extends it by ``max_steps``
    (the config's when empty) on the new version; a run that already trained on this very version is
    only resumed, so a repeated event does not train twice. With no such run, or 'new', a new run
    ``<name>-<version>`` starts.
    """
    from train.config import TrainConfig

    store = ArtifactStore(params.artifacts)
    ref = store.canonical("shards/" + params.shards.removeprefix("shards/"))
    _, name, version = ref.split("/")
    run = lineage.latest_run_on(store, name) if params.on_new_version == "continue" else None
    if run is None:
        print(f"new run {name}-{version} on {ref}")
        return params.model_copy(update={"shards": ref, "run_name": f"{name}-{version}"})
    steps = params.max_steps or TrainConfig.from_toml(params.config).max_steps
    end = int(run.info.get("max_steps") or run.step) if run.shards[-1] == ref else run.step + steps
    print(f"continuing {run.ref} (step {run.step}) on {ref} to step {end}")
    return params.model_copy(
        update={"shards": ref, "run_name": run.name, "allow_new_shards": True, "max_steps": end}
    )


def _checkpoints(store: ArtifactStore) -> dict[str, str]:
    """``{run folder name: checkpoints/<run>/<latest checkpoint>}`` of every run of the store."""
    return {
        r.name: f"checkpoints/{r.name}/{Path(r.info['latest']).stem}"
        for r in lineage.runs(store)
        if r.info.get("latest")
    }


@task(name="run-report")
def run_report_task(run_dir: str) -> Path:
    from train.report import write_run_report

    return write_run_report(Path(run_dir))


@flow(name="train", log_prints=True)
def train(params: TrainParams = TrainParams()) -> dict[str, Any]:  # noqa: B008
    """A shard version → a trained model with checkpoints that name their data version."""
    if params.on_new_version is not None:
        params = _follow(params)
    store = ArtifactStore(params.artifacts)
    before = _checkpoints(store)
    result = train_task(params)
    run_dir = Path(str(result["run_dir"]))
    checkpoint = _checkpoints(store).get(run_dir.name)
    report = run_report_task(str(run_dir))
    if checkpoint is not None and checkpoint != before.get(run_dir.name):
        shards = dict.fromkeys(result["lineage"]["shards"])
        parents = {("shards" if i == 1 else f"shards-{i}"): ref for i, ref in enumerate(shards, 1)}
        _announce(store, checkpoint, parents, report.resolve().as_uri())
    sample = sample_task(str(result["run_dir"]), params.prompt)
    create_table_artifact(
        key=_key("loss", Path(str(result["run_dir"])).name),
        table=[{"step": step, "train_loss": loss} for step, loss in enumerate(result["losses"], 1)],
        description=f"loss curve on {result['shards_ref']}",
    )
    create_table_artifact(
        key=_key("plan", run_dir.name),
        table=result["plan"],
        description="estimated peak memory per GPU and precision, chosen micro-batch (garimpo train --plan)",
    )
    create_markdown_artifact(
        key=_key("model", Path(str(result["run_dir"])).name),
        markdown=f"# {result['run_dir']}\n\ntrained on `{result['shards_ref']}`\n\n"
        f"report: [{report.name}]({report.resolve().as_uri()})\n\n"
        f"final val loss: {result['final_val_loss']:.4f}\n\nsample:\n\n> {sample}\n",
    )
    print(f"final val loss {result['final_val_loss']:.4f}; checkpoint {result['checkpoint_path']}")
    print(f"sample: {sample}")
    return {**result, "prompt": params.prompt, "sample": sample}


@flow(name="garimpo-demo", log_prints=True)
def demo(
    artifacts: str = "artifacts", vocab_size: int = 2048, max_steps: int | None = None
) -> dict[str, Any]:
    """The whole thin path on the shipped sample corpus: curate → tokenizer → shards → train → sample."""
    corpus_ref = clean_corpus(CleanCorpusParams(artifacts=artifacts))
    store = ArtifactStore(artifacts)
    corpus = store.load_ref(corpus_ref)
    shards_ref = build_shards(
        BuildShardsParams(artifacts=artifacts, vocab_size=vocab_size, corpus=corpus.version, val_fraction=0.1)
    )
    shards = store.load_ref(shards_ref)
    # One run per shard version: a rerun after the data changed starts a new run instead of being
    # refused for resuming a run that was trained on other data.
    result = train(
        TrainParams(
            artifacts=artifacts,
            shards=f"{shards.name}/{shards.version}",
            run_name=f"{shards.name}-{shards.version}",
            max_steps=max_steps,
        )
    )
    return {"corpus": corpus, "shards": shards, "train": result}


class EvaluateParams(BaseModel):
    """Parameters of `evaluate`: a model and what to measure it on (defaults from the eval settings)."""

    target: str = Field(description="run folder, checkpoint file or HF export folder")
    config: str = Field(DEFAULT_EVAL, description="shipped eval settings name or a TOML path")
    heldout: dict[str, str] = Field(
        default_factory=dict, description="name -> held-out text: JSONL, Parquet or corpus/<name>[/<version>]"
    )
    enem: dict[str, str] = Field(default_factory=dict, description="task name -> gpt-4-enem .json/.jsonl")
    harness: bool | None = Field(None, description="also score ENEM with lm-evaluation-harness")
    max_items: int | None = Field(None, ge=0)
    artifacts: str = "artifacts"


def heldout_sets(heldout: dict[str, str], artifacts: str, text_field: str = "text") -> list[Any]:
    """Held-out text sets from JSONL files, Parquet files (the curation reader) or corpus versions."""
    from train.eval_text import TextSet, jsonl_set

    sets = []
    for name, where in heldout.items():
        if where.startswith("corpus/"):
            from pipelines.corpus_files import corpus_texts

            corpus = ArtifactStore(artifacts).load_ref(where)
            sets.append(TextSet(name, list(corpus_texts(corpus)), corpus.ref))
        elif where.endswith(".parquet"):
            from pipelines.sources import SourceSpec, is_rejection, read_source

            records = list(
                read_source(SourceSpec(path=where, format="parquet", name=name, text_field=text_field))
            )
            rejected: dict[str, int] = {}
            for r in records:
                if is_rejection(r):
                    rejected[r["reason"]] = rejected.get(r["reason"], 0) + 1
            sets.append(TextSet(name, [r["text"] for r in records if not is_rejection(r)], where, rejected))
        else:
            sets.append(jsonl_set(name, where, text_field))
    return sets


def _eval_artifacts(result: dict[str, Any], key: str) -> None:
    from train.eval_suite import result_rows

    rows = result_rows(result)
    create_table_artifact(
        key=_key("eval", key), table=rows, description=f"evaluation of {result['model']['path']}"
    )
    create_markdown_artifact(
        key=_key("eval", key, "lineage"),
        markdown=f"# {result['model']['path']}\n\nshards: `{result['model']['lineage'].get('shards')}`\n\n"
        f"result: `{result.get('path')}`\n\n```\n{format_table(rows)}\n```\n",
    )
    print(format_table(rows))


@task(name="evaluate-model")
def evaluate_task(target: str, settings: Any, artifacts: str, sets: list[Any]) -> dict[str, Any]:
    from train.eval_suite import evaluate_model

    return evaluate_model(target, settings, artifacts, extra_sets=sets)


@flow(name="evaluate", log_prints=True)
def evaluate(params: EvaluateParams) -> dict[str, Any]:
    """A model → held-out bits per byte, ENEM and cloze scores, contamination, as JSON and artifacts."""
    from train.eval_suite import load_eval_settings

    base = load_eval_settings(params.config)
    settings = base.replace(
        enem={**base.enem, **params.enem}, harness=params.harness, max_items=params.max_items
    )
    sets = heldout_sets(params.heldout, params.artifacts, settings.text_field)
    result = evaluate_task(params.target, settings, params.artifacts, sets)
    _eval_artifacts(result, Path(params.target).name)
    return result


class AblationParams(ShardOptions):
    """Parameters of `data-ablation`: the sources, the recipe, held-out text, one model and its seeds."""

    name: str = Field("ablation", pattern=NAME_PATTERN)
    inputs: list[str] = Field(
        default_factory=list, description="JSONL files or globs; 'sample' writes and uses the sample corpus"
    )
    sources: list[SourceParams] = Field(default_factory=list, description="declared sources (html, pdf, ...)")
    recipe: str = Field(DEFAULT_RECIPE, description="the curated variant's recipe (name or TOML path)")
    ablate_stages: bool = Field(False, description="add one variant per recipe stage, with that stage off")
    heldout: dict[str, str] = Field(
        description="name -> clean held-out text (JSONL, Parquet, corpus ref) that no variant trains on"
    )
    config: str = Field(DEFAULT_CONFIG, description="training config (name or TOML path), the same for all")
    max_steps: int | None = Field(None, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=2)
    eval_config: str = Field(DEFAULT_EVAL, description="eval settings for every run (ENEM, cloze, ...)")
    workers: int = Field(1, ge=1, le=256)
    artifacts: str = "artifacts"


def ablation_recipes(recipe_name: str, ablate_stages: bool) -> dict[str, Any]:
    """``raw`` (readers only: no stage at all), ``curated`` (the recipe) and, when asked, ``no-<stage>``."""
    from pipelines.recipe import load_recipe

    recipe = load_recipe(recipe_name)
    variants = {"raw": recipe.replace(stages=()), "curated": recipe}
    if ablate_stages:
        for stage in recipe.stages:
            variants[f"no-{stage}"] = recipe.replace(stages=tuple(s for s in recipe.stages if s != stage))
    return variants


@task(name="variant-corpus", task_run_name="{variant}")
def variant_corpus_task(params: AblationParams, variant: str, recipe: Any, inputs: list[str]) -> Manifest:
    from pipelines.curate import publish_corpus

    store = ArtifactStore(params.artifacts)
    return publish_corpus(
        store, f"{params.name}-{variant}", [Path(p) for p in inputs], recipe, params.workers
    )


@task(name="check-heldout")
def check_heldout_task(corpora: dict[str, Manifest], sets: list[Any], settings: Any) -> dict[str, Any]:
    """Refuse held-out text that occurs in any variant's corpus (n-gram overlap at the eval threshold)."""
    from pipelines.corpus_files import corpus_texts
    from train.eval_contamination import overlap

    items = {f"{s.name}/{i}": t for s in sets for i, t in enumerate(s.texts)}
    found = {}
    for variant, corpus in corpora.items():
        found[variant] = overlap(items, corpus_texts(corpus), settings.ngram, settings.threshold)
        listed = found[variant]["contaminated"]
        if listed:
            ids = ", ".join(d["id"] for d in listed[:10])
            raise ArtifactError(
                f"{len(listed)} held-out document(s) occur in the training data of variant {variant!r} "
                f"({corpus.ref}; >= {settings.threshold:.0%} of their {settings.ngram}-grams): {ids}; "
                "take them out of the sources or of the held-out sets"
            )
    return {
        v: {"max_overlap": f["max_overlap"], "documents_scanned": f["documents_scanned"]}
        for v, f in found.items()
    }


@task(name="shared-tokenizer")
def ablation_tokenizer_task(params: AblationParams, raw: Manifest) -> Manifest:
    from pipelines.tokenizer import publish_tokenizer

    return publish_tokenizer(ArtifactStore(params.artifacts), params.name, raw, params.vocab_size)


@task(name="variant-shards", task_run_name="{variant}")
def variant_shards_task(
    params: AblationParams, variant: str, corpus: Manifest, tokenizer: Manifest
) -> Manifest:
    from pipelines.shards import build_shards

    store = ArtifactStore(params.artifacts)
    return build_shards(
        store,
        f"{params.name}-{variant}",
        corpus,
        tokenizer,
        settings=params.shard_settings(),
        workers=params.workers,
    )


@task(name="variant-train", task_run_name="{variant}-seed{seed}")
def variant_train_task(params: AblationParams, variant: str, seed: int, shards: Manifest) -> dict[str, Any]:
    from train.config import TrainConfig
    from train.trainer import train as run_training

    cfg = TrainConfig.from_toml(params.config, max_steps=params.max_steps, seed=seed)
    # the step count and the config's digest are in the name: a rerun with another budget or another
    # model/optimizer config is a new run, not a resumed one
    run_name = f"{params.name}-{variant}-seed{seed}-{cfg.max_steps}steps-{json_sha256(cfg.to_dict())[:8]}-{shards.version}"
    r = run_training(cfg, shards.ref, artifacts_root=params.artifacts, run_name=run_name)
    return {"run_dir": str(r.run_dir), "tokens_seen": r.tokens_seen, "step": r.step, "shards": r.shards_ref}


@flow(name="data-ablation", log_prints=True)
def data_ablation(params: AblationParams) -> dict[str, Any]:
    """Sources → raw, curated (and one-stage-off) corpora → one tokenizer → equal-budget runs per seed →
    held-out bits per byte per variant, with a report (JSON, PNG, table) that says whether curation paid."""
    from train.eval_report import summarize, write_report
    from train.eval_suite import load_eval_settings

    inputs = [p for p in params.inputs if p != SAMPLE_INPUTS]
    if SAMPLE_INPUTS in params.inputs:
        inputs += write_sample_task(params.artifacts)["text"]
    if params.sources:
        inputs += read_sources_task(
            CleanCorpusParams(name=params.name, inputs=[], sources=params.sources, artifacts=params.artifacts)
        )
    if not inputs:
        raise ArtifactError("no inputs: give JSONL files, declared sources or 'sample'")
    settings = load_eval_settings(params.eval_config).replace(val_split=False)
    sets = heldout_sets(params.heldout, params.artifacts, settings.text_field)
    empty = [s.name for s in sets if not s.texts]
    if empty or not sets:
        raise ArtifactError(
            f"held-out set(s) {empty} hold no documents; the ablation needs clean held-out text"
        )
    corpora = {
        v: variant_corpus_task(params, v, r, inputs)
        for v, r in ablation_recipes(params.recipe, params.ablate_stages).items()
    }
    kept = {v: c.stats.get("documents_kept") for v, c in corpora.items()}
    if not all(kept.values()):
        raise ArtifactError(f"a variant kept no documents ({kept}); nothing to train on")
    checked = check_heldout_task(corpora, sets, settings)
    tokenizer = ablation_tokenizer_task(params, corpora["raw"])
    shards = {v: variant_shards_task(params, v, c, tokenizer) for v, c in corpora.items()}
    runs = []
    for variant, manifest in shards.items():
        for seed in params.seeds:
            run = variant_train_task(params, variant, seed, manifest)
            result = evaluate_task(run["run_dir"], settings, params.artifacts, sets)
            runs.append({"variant": variant, "seed": seed, **run, "result": result})
    summary = summarize(runs, [s.name for s in sets])
    # one folder per data version and budget: a longer rerun does not overwrite a shorter one's report
    budget = max(run["tokens_seen"] for run in runs)
    folder = ArtifactStore(params.artifacts).root / "reports" / params.name
    folder = folder / f"{tokenizer.version}-{budget}tokens"
    detail = {
        "corpora": {v: {"ref": c.ref, "documents_kept": kept[v]} for v, c in corpora.items()},
        "tokenizer": tokenizer.ref,
        "shards": {v: m.ref for v, m in shards.items()},
        "heldout": {s.name: s.describe() for s in sets},
        "heldout_check": checked,
        "runs": runs,
    }
    files = write_report(folder, summary, detail)
    rows = [{k: v for k, v in row.items() if k != "per_seed"} for row in summary]
    create_table_artifact(
        key=_key("ablation", params.name), table=rows, description="held-out bits per byte per variant"
    )
    create_markdown_artifact(
        key=_key("ablation", params.name, "report"),
        markdown=f"# data ablation {params.name}\n\n```\n{format_table(rows)}\n```\n\n"
        + "\n".join(f"- `{p}`" for p in files)
        + "\n",
    )
    print(format_table(rows))
    print(f"report: {folder}")
    return {"summary": summary, "report": str(folder), "files": [str(p) for p in files], **detail}


def on_new_shards_deployment(follow: FollowShards) -> Any:
    """`train/on-new-shards`: a run of `train` for every `garimpo.shards.published` of ``follow.shards``.

    The trigger passes the new version and the store it was published in; one run at a time, and a
    version published while a run trains waits in the queue (ENQUEUE), it is not dropped.
    """
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.events import DeploymentEventTrigger

    defaults = {
        "on_new_version": follow.policy,
        "config": follow.config,
        "max_steps": follow.steps,
    }
    trigger = DeploymentEventTrigger(
        name=f"train on new shards/{follow.shards}",
        expect={"garimpo.shards.published"},
        match={"garimpo.kind": "shards", "garimpo.name": follow.shards},
        parameters={
            "params": {
                **defaults,
                "shards": "{{ event.resource['garimpo.ref'] }}",
                "artifacts": "{{ event.resource['garimpo.store'] }}",
            }
        },
    )
    queued = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    return train.to_deployment(
        name="on-new-shards",
        triggers=[trigger],
        concurrency_limit=queued,
        parameters={"params": {**defaults, "shards": follow.shards}},
        description=f"Trains on every new version of shards/{follow.shards} ({follow.policy})",
    )


def serve_deployments(follow: FollowShards | None = None) -> None:
    """Serve every deployment from this process (schedules stay active across restarts)."""
    from prefect import serve
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    serve(
        clean_corpus.to_deployment(name="default"),
        build_shards.to_deployment(name="default"),
        rebuild_shards.to_deployment(name="nightly", cron=NIGHTLY_CRON, concurrency_limit=one_at_a_time),
        train.to_deployment(name="default"),
        on_new_shards_deployment(follow or FollowShards()),
        evaluate.to_deployment(name="default"),
        data_ablation.to_deployment(name="default"),
        limit=2,
        # Prefect pauses served schedules on shutdown by default; a nightly rebuild must survive restarts.
        pause_on_shutdown=False,
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve_deployments()
    else:
        sys.exit("usage: python -m flows serve (or: garimpo serve)")
