"""Imported once by the local executor's fork server, so every phase's worker processes start ready.

Each phase is a pool of fresh worker processes (datatrove's `LocalPipelineExecutor`, forked from a
fork server). Without this, every worker of every phase imported datatrove, numpy and curation's
stages again when it unpickled its pipeline (about a second each), and spaCy once more in the
``filter`` phase (two more); a curation run paid that about a dozen times. The fork server imports
them once and the workers inherit them (``pipelines/executors.py`` names this module).
"""

import fasttext  # noqa: F401

import pipelines.curate  # noqa: F401
from pipelines.stages.words import import_spacy

import_spacy()
