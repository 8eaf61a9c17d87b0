"""Source readers: raw files of a declared format in, JSONL document and rejection records out.

Start at ``readers.read_source`` (one source) or ``readers.write_jsonl`` (many sources to a file).
"""

from pipelines.sources.readers import FORMATS, Record, SourceSpec, is_rejection, read_source, write_jsonl

__all__ = ["FORMATS", "Record", "SourceSpec", "is_rejection", "read_source", "write_jsonl"]
