"""The trainer: reads a shards manifest, trains ``model.gpt.GPT`` and writes resumable checkpoints.

Imports only torch, numpy, ``model`` and the foundation ``garimpo.core`` (never ``pipelines``), so a GPU box
needs just ``pip install garimpo[train]``.
"""
