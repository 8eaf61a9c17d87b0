"""Prefect flows: the thin layer that wires garimpo's library code into runs, schedules and artifacts.

Flows take typed (pydantic) parameters, call `pipelines/` and `train/` as tasks so the Prefect UI
shows each step, and publish what happened as table and markdown artifacts. All real work lives in
the packages, which never import Prefect, so the same code runs from the CLI, a notebook or a test.
It is over 400 lines because every deployment entrypoint (`flows.py:clean_corpus`, ...) and the typed
parameters of each flow live in this one module, the one Prefect and `prefect.yaml` name; each flow
itself stays a few lines that call the packages.

    python -m flows serve          # serve the deployments (clean-corpus/default, build-shards/default,
                                   # rebuild-shards/nightly at 03:00 UTC, train/default) in one process
    prefect deployment run clean-corpus/default --watch
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from garimpo.core import ArtifactError, ArtifactStore, Manifest, verify
from garimpo.core.formats import MAX_TOKEN_ID, SPECIAL_TOKENS
from garimpo.core.fs import remove_tree
from garimpo.core.report import format_table, stage_rows
from garimpo.core.settings import config_path
from pipelines.executors import ExecutorConfig
from pipelines.recipe import DEFAULT_RECIPE
from pipelines.shards import ShardSettings, load_shard_settings
from train.config import DEFAULT_CONFIG

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
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = Field(None, description="ray cluster address; a local instance when empty")

    def executor_config(self) -> ExecutorConfig:
        return ExecutorConfig(kind=self.executor, ray_address=self.ray_address)


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
    prompt: str = "O Brasil é"
    artifacts: str = "artifacts"


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


@task(name="curation-stage", task_run_name="{stage}", **RETRIES)
def stage_task(stage: str, params: CleanCorpusParams, inputs: list[str], key: str) -> dict[str, Any]:
    from pipelines.curate import DEDUP_INDEX, run_stage
    from pipelines.recipe import load_recipe

    return run_stage(
        stage,
        load_recipe(params.recipe),
        _work_dir(params, key),
        [Path(p) for p in inputs],
        params.workers,
        [m.path_of(DEDUP_INDEX) for m in _against(params)],
        params.executor_config(),
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

    Each stage is its own task. Work is keyed on the inputs' content and the recipe: a rerun with
    unchanged inputs returns the published version at once, and a killed run resumes at the first
    unfinished stage.
    """
    from pipelines.curate import input_key, stage_names
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
        for stage in stage_names(recipe):
            stage_task(stage, params, inputs, key)
    manifest = publish_corpus_task(params, inputs, key)
    rows = stage_rows(manifest.stats)
    if instruct_inputs:
        instruct = instruct_task(params, instruct_inputs)
        rows += stage_rows(instruct.stats)
        print(f"instructions: {instruct.ref} at {instruct.root}")
    _report(manifest, "curation", rows, f"```\n{format_table(rows)}\n```")
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
    tokenizer_ref = params.tokenizer or tokenizer_task(params, corpus_ref).ref
    instruct_ref = None
    if params.instruct and (store.root / "instruct" / params.name).is_dir():
        instruct_ref = f"instruct/{params.name}/{store.resolve('instruct', params.name, params.instruct)}"
    manifest = shards_task(params, corpus_ref, tokenizer_ref, instruct_ref)
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
    from train.config import TrainConfig
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
    return result.__dict__


@task(name="generate-sample")
def sample_task(run_dir: str, prompt: str) -> str:
    from train.sample import generate_text

    return generate_text(run_dir, prompt, max_new_tokens=40, temperature=0.8, top_k=50, seed=0)


@flow(name="train", log_prints=True)
def train(params: TrainParams = TrainParams()) -> dict[str, Any]:  # noqa: B008
    """A shard version → a trained model with checkpoints that name their data version."""
    result = train_task(params)
    sample = sample_task(str(result["run_dir"]), params.prompt)
    create_table_artifact(
        key=_key("loss", Path(str(result["run_dir"])).name),
        table=[{"step": step, "train_loss": loss} for step, loss in enumerate(result["losses"], 1)],
        description=f"loss curve on {result['shards_ref']}",
    )
    create_markdown_artifact(
        key=_key("model", Path(str(result["run_dir"])).name),
        markdown=f"# {result['run_dir']}\n\ntrained on `{result['shards_ref']}`\n\n"
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


def serve_deployments() -> None:
    """Serve every deployment from this process (schedules stay active across restarts)."""
    from prefect import serve
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    serve(
        clean_corpus.to_deployment(name="default"),
        build_shards.to_deployment(name="default"),
        rebuild_shards.to_deployment(name="nightly", cron=NIGHTLY_CRON, concurrency_limit=one_at_a_time),
        train.to_deployment(name="default"),
        limit=2,
        # Prefect pauses served schedules on shutdown by default; a nightly rebuild must survive restarts.
        pause_on_shutdown=False,
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve_deployments()
    else:
        sys.exit("usage: python -m flows serve (or: garimpo serve)")
