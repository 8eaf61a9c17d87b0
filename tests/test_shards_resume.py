"""Resumable, incremental and mixed shard builds: a killed build resumes to the same bytes, unchanged
documents are not re-encoded, source weights are applied deterministically and counted."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from garimpo.core import ArtifactStore, Manifest, verify
from garimpo.core.formats import read_documents
from pipelines.shards import build_shards, copies, load_shard_settings, validation_ids
from pipelines.tokenizer import publish_tokenizer
from tests.test_tokenizer import sample_texts

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("web", "books", "forum")
SHARD_LIMIT = 2000
MIX = {"web": 1.0, "books": 2.5, "forum": 0.5}
LIMITED = load_shard_settings().replace(max_tokens_per_shard=SHARD_LIMIT)


def publish_sourced_corpus(store: ArtifactStore, docs: list[tuple[str, str, str]]) -> Manifest:
    """A corpus version from ``(id, text, source)`` triples, split over two parquet files."""

    def build(folder: Path) -> None:
        (folder / "documents").mkdir()
        half = len(docs) // 2
        for k, chunk in enumerate((docs[:half], docs[half:])):
            table = pa.table(
                {
                    "id": [d[0] for d in chunk],
                    "text": [d[1] for d in chunk],
                    "source": [d[2] for d in chunk],
                    "metadata": ["{}"] * len(chunk),
                }
            )
            pq.write_table(table, folder / "documents" / f"{k:05d}.parquet")

    return store.publish("corpus", "mixed", build)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[ArtifactStore, Manifest, Manifest, list]:
    texts = sample_texts(tmp_path_factory.mktemp("sample"))[:120]
    docs = [(f"doc-{i:04d}", text, SOURCES[i % 3]) for i, text in enumerate(texts)]
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    corpus = publish_sourced_corpus(store, docs)
    tokenizer = publish_tokenizer(store, "pt", corpus, vocab_size=600)
    return store, corpus, tokenizer, docs


def _same_result(a: Manifest, b: Manifest) -> None:
    assert a.fingerprint == b.fingerprint
    assert [(f.path, f.sha256, f.to_json()) for f in a.files] == [
        (f.path, f.sha256, f.to_json()) for f in b.files
    ]
    assert {k: v for k, v in a.stats.items() if k != "build"} == {
        k: v for k, v in b.stats.items() if k != "build"
    }
    assert a.extra == b.extra and a.config == b.config


class Interrupt(Exception):
    pass


def test_an_interrupted_build_resumes_after_its_finished_shards(
    setup: tuple[ArtifactStore, Manifest, Manifest, list], tmp_path: Path
) -> None:
    _, corpus, tokenizer, _ = setup
    options = {"settings": LIMITED.replace(val_fraction=0.1, mix=MIX), "token_cache": False}
    reference = build_shards(ArtifactStore(tmp_path / "ref"), "s", corpus, tokenizer, **options)
    assert reference.extra["splits"]["train"]["files"] >= 5

    store = ArtifactStore(tmp_path / "store")
    finished: list[str] = []

    def stop_after_three(shard: str) -> None:
        finished.append(shard)
        if len(finished) == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        build_shards(store, "s", corpus, tokenizer, progress=stop_after_three, **options)
    assert not (store.root / "shards" / "s").exists() or not list((store.root / "shards" / "s").iterdir())
    resumed_shards: list[str] = []
    resumed = build_shards(store, "s", corpus, tokenizer, progress=resumed_shards.append, **options)
    _same_result(resumed, reference)
    assert resumed.stats["build"]["resumed_shards"] == 3
    assert not set(finished) & set(resumed_shards), "finished shards are not written again"
    in_finished = sum(reference.file(name).documents for name in finished)
    assert resumed.stats["build"]["encoded"] <= reference.stats["build"]["encoded"] - in_finished, (
        "documents of finished shards are not re-encoded"
    )
    assert not (store.root / ".work" / "shards").exists() or not list(
        (store.root / ".work" / "shards").iterdir()
    )


def test_a_sigkilled_build_resumes_to_the_same_bytes(
    setup: tuple[ArtifactStore, Manifest, Manifest, list], tmp_path: Path
) -> None:
    """A separate process builds and is killed with SIGKILL right after its second finished shard."""
    _, corpus, tokenizer, _ = setup
    store = ArtifactStore(tmp_path / "store")
    script = textwrap.dedent(
        f"""
        import os, signal
        from garimpo.core import ArtifactStore, load_manifest
        from pipelines.shards import build_shards, load_shard_settings
        done = []
        def kill(shard):
            done.append(shard)
            if len(done) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        build_shards(ArtifactStore({str(store.root)!r}), "s", load_manifest({str(corpus.root)!r}),
                     load_manifest({str(tokenizer.root)!r}),
                     settings=load_shard_settings().replace(max_tokens_per_shard={SHARD_LIMIT}),
                     token_cache=False, progress=kill)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (work,) = (store.root / ".work" / "shards").iterdir()
    assert len(list((work / "done").glob("*.ds.json"))) == 2
    resumed = build_shards(store, "s", corpus, tokenizer, settings=LIMITED, token_cache=False)
    reference = build_shards(
        ArtifactStore(tmp_path / "ref"),
        "s",
        corpus,
        tokenizer,
        settings=LIMITED,
        token_cache=False,
    )
    _same_result(resumed, reference)
    assert resumed.stats["build"]["resumed_shards"] == 2
    assert verify(resumed) == []


def test_mix_is_deterministic_and_counted_per_source(
    setup: tuple[ArtifactStore, Manifest, Manifest, list], tmp_path: Path
) -> None:
    store, corpus, tokenizer, docs = setup
    plain = build_shards(store, "plain", corpus, tokenizer, settings=LIMITED)
    mixed = build_shards(store, "mixed", corpus, tokenizer, settings=LIMITED.replace(mix=MIX))
    again = build_shards(ArtifactStore(tmp_path), "m", corpus, tokenizer, settings=LIMITED.replace(mix=MIX))
    _same_result(mixed, again)
    other_seed = build_shards(store, "seed", corpus, tokenizer, settings=LIMITED.replace(mix=MIX, mix_seed=1))
    assert other_seed.fingerprint != mixed.fingerprint
    assert mixed.config["mix"] == MIX and plain.config["mix"] is None

    expected = {s: sum(copies(i, MIX[s], 0) for i, _, src in docs if src == s) for s in SOURCES}
    assert expected["books"] > 2 * sum(1 for d in docs if d[2] == "books") > expected["books"] - 40
    assert expected["forum"] < sum(1 for d in docs if d[2] == "forum")
    per_source = mixed.stats["mix"]
    plain_tokens = {s: plain.stats["mix"][s]["tokens_after"] for s in SOURCES}
    for s in SOURCES:
        assert per_source[s]["weight"] == MIX[s]
        assert per_source[s]["documents_before"] == Counter(d[2] for d in docs)[s]
        assert per_source[s]["documents_after"] == expected[s]
        assert per_source[s]["tokens_before"] == plain_tokens[s] == plain.stats["mix"][s]["tokens_before"]
    assert sum(c["tokens_after"] for c in per_source.values()) == mixed.stats["tokens"]
    assert sum(c["documents_after"] for c in per_source.values()) == mixed.stats["documents"]

    # Every written document is a whole corpus document in its own split, copies never side by side.
    by_tokens = {
        tuple(d): i for split in ("train", "val") for i, d in enumerate(read_documents(plain, split))
    }
    val = validation_ids(iter(d[0] for d in docs), 0.05)
    for split in ("train", "val"):
        written = list(read_documents(mixed, split))
        assert all(tuple(d) in by_tokens for d in written)
        assert all(a != b for a, b in itertools.pairwise(written))
        assert len(written) == sum(copies(i, MIX[s], 0) for i, _, s in docs if (i in val) == (split == "val"))


def test_zero_weight_drops_a_source_and_bad_weights_are_refused(
    setup: tuple[ArtifactStore, Manifest, Manifest, list],
) -> None:
    store, corpus, tokenizer, docs = setup
    m = build_shards(store, "noforum", corpus, tokenizer, settings=LIMITED.replace(mix={"forum": 0.0}))
    assert m.stats["mix"]["forum"]["documents_after"] == 0 < m.stats["mix"]["forum"]["tokens_before"]
    assert m.stats["documents"] == sum(1 for d in docs if d[2] != "forum")
    with pytest.raises(ValueError, match="mix weight"):
        build_shards(
            store, "bad", corpus, tokenizer, settings=load_shard_settings().replace(mix={"web": -1.0})
        )


def test_rebuild_after_a_corpus_change_encodes_only_changed_documents(
    setup: tuple[ArtifactStore, Manifest, Manifest, list], tmp_path: Path
) -> None:
    _, corpus, tokenizer, docs = setup
    store = ArtifactStore(tmp_path)
    first = build_shards(store, "s", corpus, tokenizer, settings=LIMITED)
    assert first.stats["build"]["encoded"] + first.stats["build"]["from_cache"] == len(docs)
    changed = [(i, f"{text} Texto revisto número {n}.", s) for n, (i, text, s) in enumerate(docs[:5])]
    added = [("doc-new", "Um documento novo sobre o açaí de Belém do Pará.", "web")]
    edited = publish_sourced_corpus(store, [*changed, *docs[5:], *added])
    cached = build_shards(store, "s", edited, tokenizer, settings=LIMITED)
    assert cached.stats["build"] == {"encoded": 6, "from_cache": len(docs) - 5, "resumed_shards": 0}
    full = build_shards(
        ArtifactStore(tmp_path / "full"),
        "s",
        edited,
        tokenizer,
        settings=LIMITED,
        token_cache=False,
    )
    _same_result(cached, full)
    assert cached.fingerprint != first.fingerprint
    assert os.listdir(store.root / ".cache" / "tokens")
