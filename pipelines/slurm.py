"""Curation phases as Slurm job arrays, run to the end like the local and Ray executors.

datatrove's `SlurmPipelineExecutor` submits a job array (``sbatch``, one array task per datatrove
task, at most ``workers`` at once) and returns at once; curation's phases run one after the other, each
reading what the previous one wrote. `SlurmPhaseExecutor` therefore submits, waits until no job of
its (unique) name is left in the queue (``squeue``), and then checks datatrove's completion markers: a
task that failed, was cancelled or ran out of time fails the phase with a pointer to its Slurm logs,
and the next run resubmits only the unfinished tasks. The jobs run
``launch_pickled_pipeline`` from the submitting interpreter's folder with the submitter's
environment (``--export=ALL``), so the work folder and the inputs must sit on storage every node sees
at the same path, as with Ray.
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

from datatrove.executor.slurm import SlurmPipelineExecutor
from datatrove.pipeline.base import PipelineStep

from pipelines.executors import ExecutorConfig

POLL_SECONDS = 2.0


class SlurmPhaseExecutor(SlurmPipelineExecutor):
    """`SlurmPipelineExecutor` whose ``run`` returns once every submitted job has left the queue."""

    def launch_merge_stats(self) -> None:
        """Not submitted: the phase runner merges the tasks' stats itself (and a stats job waiting on a
        failed array would wait in the queue for ever)."""

    def run(self) -> None:
        super().run()
        if "SLURM_ARRAY_TASK_ID" in os.environ:  # inside an array task: its ranks are done
            return
        while queued(self.job_name):
            time.sleep(POLL_SECONDS)
        missing = self.get_incomplete_ranks()
        if missing:
            raise RuntimeError(
                f"Slurm job {self.job_name}: {len(missing)} of {self.world_size} tasks did not finish "
                f"(failed, cancelled or out of time); their logs are in {self.slurm_logs_folder}. "
                "Run again to resubmit only those tasks."
            )


def queued(job_name: str) -> bool:
    """Whether a job (or array task) of this name is still pending or running."""
    out = subprocess.run(
        ["squeue", "--noheader", "--name", job_name, "--format=%i"], capture_output=True, text=True, check=True
    )
    return bool(out.stdout.strip())


def slurm_executor(
    pipeline: list[PipelineStep], *, tasks: int, workers: int, logging_dir: Path, config: ExecutorConfig
) -> SlurmPhaseExecutor:
    """One phase as a job array named ``garimpo-<phase folder>-<random>`` on the configured partition."""
    return SlurmPhaseExecutor(
        pipeline,
        tasks=tasks,
        workers=workers,
        time=config.slurm_time,
        partition=config.slurm_partition,
        cpus_per_task=config.cpus_per_task,
        mem_per_cpu_gb=max(1, math.ceil(config.mem_per_cpu_gb)),
        job_name=f"garimpo-{logging_dir.parent.name}-{uuid.uuid4().hex[:8]}",
        qos="",  # the cluster's default quality of service
        logging_dir=str(logging_dir),
        slurm_logs_folder=str(logging_dir / "slurm_logs"),
        # launch_pickled_pipeline (datatrove's) sits beside the interpreter that submits.
        env_command=f"export PATH={shlex.quote(str(Path(sys.executable).parent))}:$PATH",
        mail_type="NONE",
    )
