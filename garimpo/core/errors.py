"""The foundation's one error type, so every caller (CLI, flows, trainer) catches one class."""


class ArtifactError(RuntimeError):
    """A manifest or artifact file is missing, altered, unsafe or in use by another build."""
