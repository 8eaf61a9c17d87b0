"""The base of the steps that make a stage a map-reduce (dedup's and boilerplate's phases).

Their tasks talk through files, not through the document stream: one phase's step writes per-rank
tables into a folder, a later phase's tasks merge them, and the stage's own step reads the result.
Every such step needs the stage's settings and that folder, and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datatrove.pipeline.base import PipelineStep


class FolderStep(PipelineStep):
    """A step with its stage's ``settings`` and the ``folder`` the stage's phases share."""

    def __init__(self, settings: Any, folder: Path) -> None:
        super().__init__()
        self.settings, self.folder = settings, Path(folder)
