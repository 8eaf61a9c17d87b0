"""Where a curation phase's datatrove pipeline runs: this machine's processes, a Ray cluster, or Slurm.

Prefect stays the control plane at phase granularity; the data-parallel work inside a phase is
datatrove's. Locally that is `LocalPipelineExecutor` (N worker processes). Across machines it is
`RayPipelineExecutor` against a running cluster (`ray start --head` on one node, `ray start
--address=...` on the others; see docs/scale.md), or datatrove's `SlurmPipelineExecutor`, one job
array per phase, waited for (``pipelines/slurm.py``). All honour datatrove's completion markers, so a
phase whose tasks finished is not redone when it is retried.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import multiprocess
from datatrove.executor import LocalPipelineExecutor
from datatrove.executor.base import PipelineExecutor
from datatrove.pipeline.base import PipelineStep

# Local workers fork from a server process that has imported curation's modules once.
START_METHOD = "forkserver"


@dataclass(frozen=True)
class ExecutorConfig:
    """How phases run. ``ray_address`` None with kind "ray" starts a local Ray instance on 127.0.0.1;
    kind "slurm" submits to ``slurm_partition`` with ``slurm_time`` per task."""

    kind: Literal["local", "ray", "slurm"] = "local"
    ray_address: str | None = None
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 1.0
    slurm_partition: str | None = None
    slurm_time: str = "24:00:00"

    def __post_init__(self) -> None:
        if self.kind == "slurm" and not self.slurm_partition:
            raise ValueError(
                "the slurm executor needs a partition: --executor slurm needs --slurm-partition "
                "(slurm_partition in the clean-corpus flow)"
            )


def make_executor(
    pipeline: list[PipelineStep],
    *,
    tasks: int,
    workers: int,
    logging_dir: str | Path,
    config: ExecutorConfig | None = None,
) -> PipelineExecutor:
    """A datatrove executor of the configured kind for one stage's pipeline."""
    config = config or ExecutorConfig()
    if config.kind == "local":
        # Takes effect when the first pool of the process starts the fork server (pipelines/worker_preload.py);
        # "__main__" is multiprocessing's own default.
        multiprocess.get_context(START_METHOD).set_forkserver_preload(["__main__", "pipelines.worker_preload"])
        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=workers, logging_dir=str(logging_dir), start_method=START_METHOD
        )
    if config.kind == "ray":
        from datatrove.executor.ray import RayPipelineExecutor

        ensure_ray(config.ray_address, num_cpus=max(1, workers))
        return RayPipelineExecutor(
            pipeline,
            tasks=tasks,
            workers=workers,
            logging_dir=str(logging_dir),
            cpus_per_task=config.cpus_per_task,
            mem_per_cpu_gb=config.mem_per_cpu_gb,
        )
    if config.kind == "slurm":
        from pipelines.slurm import slurm_executor

        return slurm_executor(pipeline, tasks=tasks, workers=workers, logging_dir=Path(logging_dir), config=config)
    raise ValueError(f"unknown executor kind {config.kind!r}; expected 'local', 'ray' or 'slurm'")


def ensure_ray(address: str | None, num_cpus: int) -> None:
    """Connect to a Ray cluster, or start a local one bound to loopback, once per process."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        # Local instance: loopback only, no dashboard, no token file in the user's home.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(
            num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False
        )
