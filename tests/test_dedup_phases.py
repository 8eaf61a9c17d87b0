"""The distributed dedup phases make the same decisions and write the same index as `Deduplicator`."""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers import JsonlWriter

from pipelines.recipe import load_recipe
from pipelines.stages import dedup_phases
from pipelines.stages.dedup import DedupIndex, Deduplicator
from pipelines.stages.dedup_cluster import DedupBuckets, DedupClusters, DedupFilter, write_dedup_index
from pipelines.stages.dedup_phases import DedupSignatures, file_order, write_against_signatures
from pipelines.stages.read import order_key

SETTINGS = load_recipe().dedup
PT_TEXT = Path(__file__).parents[1] / ".." / "shared" / "data" / "pt_text"


class _Ranked(PipelineStep):
    """Yields the documents of one rank (a partition that interleaves in input order)."""

    def __init__(self, parts: list[list[Document]]) -> None:
        super().__init__()
        self.parts = parts

    def run(self, data, rank: int = 0, world_size: int = 1):
        yield from copy.deepcopy(self.parts[rank])


class _Collect(PipelineStep):
    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    def run(self, data, rank: int = 0, world_size: int = 1):
        rows = [
            (
                d.id,
                d.metadata.get("dup_cluster_size"),
                d.metadata.get("filter_reason"),
                d.metadata.get("duplicate_of"),
            )
            for d in data
        ]
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"{rank}.json").write_text(json.dumps(rows))
        yield from []


def _phases(tmp: Path, settings, docs: list[Document], ranks: int, against: list[Path]) -> tuple[set, Path]:
    # As in a curation run, each rank's documents come in input order (file, line).
    parts = [sorted((d for i, d in enumerate(docs) if i % ranks == r), key=order_key) for r in range(ranks)]
    index = file_order([d.metadata["input_file"] for d in docs])
    folder, logs = tmp / "dedup", tmp / "logs"
    def run(steps, tasks, name):
        return LocalPipelineExecutor(
            steps, tasks=tasks, workers=min(tasks, 2), logging_dir=str(logs / name)
        ).run()
    run([_Ranked(parts), DedupSignatures(settings, folder, index)], ranks, "sig")
    write_against_signatures(settings, folder, against)
    run([DedupBuckets(settings, folder)], 3, "buckets")
    run([DedupClusters(settings, folder)], 1, "clusters")
    run(
        [
            _Ranked(parts),
            DedupFilter(settings, folder, JsonlWriter(str(tmp / "excluded"))),
            _Collect(tmp / "kept"),
        ],
        ranks,
        "filter",
    )
    kept = {tuple(row) for r in range(ranks) for row in json.loads((tmp / "kept" / f"{r}.json").read_text())}
    for path in sorted((tmp / "excluded").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            for line in f:
                d = json.loads(line)
                kept.add((d["id"], None, d["metadata"]["filter_reason"], d["metadata"]["duplicate_of"]))
    write_dedup_index(settings, folder, tmp / "index.npy")
    return kept, tmp / "index.npy"


def _single(tmp: Path, settings, docs, against: list[Path]) -> tuple[set, set, Path]:
    dedup = Deduplicator(settings, against=[DedupIndex.load(p) for p in against])
    kept, rejected = dedup.dedupe(copy.deepcopy(docs))
    _, index = dedup.decide([dedup._entry(d, i) for i, d in enumerate(docs)], lambda i: docs[i].text)
    index.save(tmp / "single.npy")
    rows = {(d.id, d.metadata["dup_cluster_size"], None, None) for d in kept}
    return (
        rows,
        {(d.id, None, d.metadata["filter_reason"], d.metadata["duplicate_of"]) for d in rejected},
        tmp / "single.npy",
    )


def _corpus(n: int) -> list[Document]:
    if not PT_TEXT.exists():
        pytest.skip(f"real Portuguese text absent: {PT_TEXT}")
    texts = [json.loads(line)["text"] for line in (PT_TEXT / "bosque_docs.jsonl").open()][:n]
    rng = random.Random(3)
    out = list(texts)
    for t in texts[:: max(1, len(texts) // 15)]:
        words = t.split()
        out.append(t.upper())  # case variant
        out.append("  ".join(words))  # whitespace variant
        near = [w if rng.random() > 0.05 else "palavra" for w in words]
        out.append(" ".join(near))
        out.append(" ".join(w if rng.random() > 0.05 else "outra" for w in near))  # chain
    rng.shuffle(out)
    return [
        Document(text=t, id=f"d{i}", metadata={"input_file": f"f{i % 4}", "input_line": i})
        for i, t in enumerate(out)
    ]


@pytest.mark.parametrize("ranks", [1, 2, 3])
@pytest.mark.parametrize("variant", ["recipe", "no_jaccard", "exact_only"])
def test_phases_match_single_process(tmp_path: Path, ranks: int, variant: str) -> None:
    settings = {
        "recipe": SETTINGS,
        "no_jaccard": dataclasses.replace(SETTINGS, min_jaccard=0.0),
        "exact_only": dataclasses.replace(SETTINGS, near=False),
    }[variant]
    docs = _corpus(60)
    kept_single, rejected_single, single_index = _single(tmp_path, settings, docs, [])
    assert rejected_single  # the injected copies are found
    rows, index = _phases(tmp_path, settings, docs, ranks, [])
    assert rows == kept_single | rejected_single
    assert index.read_bytes() == single_index.read_bytes()


@pytest.mark.parametrize("block_rows", [4096, 7])  # the earlier index and the kept index in one block, or many
def test_against_earlier_version(tmp_path: Path, monkeypatch, block_rows: int) -> None:
    monkeypatch.setattr(dedup_phases, "BLOCK_ROWS", block_rows)
    docs = _corpus(60)
    earlier = tmp_path / "earlier.npy"
    old = Deduplicator(SETTINGS)
    _, index = old.decide([old._entry(d, i) for i, d in enumerate(docs[:30])], lambda i: docs[i].text)
    index.save(earlier)
    kept_single, rejected_single, single_index = _single(tmp_path, SETTINGS, docs, [earlier])
    assert any(r[3] in index.ids for r in rejected_single)
    rows, out = _phases(tmp_path, SETTINGS, docs, 2, [earlier])
    against_files = list((tmp_path / "dedup" / "band_000").glob("against-*.npy"))
    assert len(against_files) == -(-len(index.ids) // block_rows)
    assert rows == kept_single | rejected_single
    assert out.read_bytes() == single_index.read_bytes()


@pytest.mark.parametrize("docs", [[], ["um texto qualquer"], ["o mesmo texto repetido"] * 5])
def test_zero_one_all_duplicates(tmp_path: Path, docs: list[str]) -> None:
    documents = [
        Document(text=t, id=f"d{i}", metadata={"input_file": "a", "input_line": i})
        for i, t in enumerate(docs)
    ]
    kept_single, rejected_single, single_index = _single(tmp_path, SETTINGS, documents, [])
    rows, index = _phases(tmp_path, SETTINGS, documents, 2, [])
    assert rows == kept_single | rejected_single
    assert len(rows) == len(docs)
    assert np.load(index).dtype == np.load(single_index).dtype
    assert index.read_bytes() == single_index.read_bytes()


def test_components_join_documents_that_share_any_bucket() -> None:
    """Buckets link members to their first member; documents chained through several buckets (a long
    chain too, the worst case for label propagation) end in one component, the others in their own."""
    from pipelines.stages.dedup_cluster import _LINK, components

    def group(*members: tuple[int, int]) -> list[tuple]:
        first = members[0]
        return [(*first, 10 * rank + pos, rank, pos) for rank, pos in members]

    chain = [row for i in range(200) for row in group((2, i), (2, i + 1))]  # (2,0)-(2,1)-...-(2,200)
    rows = [
        *group((0, 0), (0, 5)),
        *group((1, 3), (0, 5)),  # joins (1,3) to (0,0) through (0,5)
        *group((1, 7), (-1, 2)),  # an earlier version's document in its own component
        *chain,
    ]
    keys, order, label = components(np.array(rows, dtype=_LINK))
    rank_pos = [(int(k >> 40) - 1, int(k & ((1 << 40) - 1))) for k in keys]
    by = dict(zip(rank_pos, label.tolist(), strict=True))
    assert by[(0, 0)] == by[(0, 5)] == by[(1, 3)]
    assert by[(1, 7)] == by[(-1, 2)] != by[(0, 0)]
    assert len({by[(2, i)] for i in range(201)}) == 1 and by[(2, 0)] not in (by[(0, 0)], by[(1, 7)])
    assert len(set(label.tolist())) == 3
    assert dict(zip(rank_pos, order.tolist(), strict=True))[(1, 3)] == 13
    empty = components(np.zeros(0, dtype=_LINK))
    assert all(len(a) == 0 for a in empty)
