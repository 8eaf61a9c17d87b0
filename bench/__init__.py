"""Benchmarks: each module measures one part of garimpo and prints its figures as one JSON line.

Run one from the repository root as a module, ``.venv/bin/python -m bench.<name>`` (for example
``.venv/bin/python -m bench.tokenizer``), so that the project packages and the test-data generators
in ``tests.fixtures`` import without any path set-up. Most read the real data in ../shared/data; each
module's docstring says what it measures, on which data, and which arguments it takes.
"""
