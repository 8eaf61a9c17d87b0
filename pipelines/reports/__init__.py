"""Reports a person opens in a browser: one static HTML page per corpus version (``corpus``)."""

from pipelines.reports.corpus import corpus_report_path, write_corpus_report

__all__ = ["corpus_report_path", "write_corpus_report"]
