"""Token shards: exact documents back, consistent indexes, clean splits, size limits, integrity checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datatrove.utils.dataset import DatatroveFolderDataset

from garimpo.core import ArtifactStore, Manifest, verify
from garimpo.core.formats import SPECIAL_TOKENS, TOKENIZER_FILE, ShardWriter, read_documents
from pipelines.shards import build_shards, load_shard_settings, validation_ids
from pipelines.tokenizer import load_tokenizer, publish_tokenizer
from tests.test_tokenizer import publish_corpus, sample_texts

EXTRA_TEXTS = [
    "Um texto com o marcador literal <|endoftext|> no meio, que não pode virar controle.",
    "Preço: R$ 1.234,56 em 2024; açaí, pão e coração. 😀",
    "x",
]
SHARD_LIMIT = 3000
LIMITED = load_shard_settings().replace(max_tokens_per_shard=SHARD_LIMIT)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[ArtifactStore, Manifest, Manifest, list[str]]:
    texts = sample_texts(tmp_path_factory.mktemp("sample"))[:150] + EXTRA_TEXTS
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    corpus = publish_corpus(store, texts, n_files=3)
    tokenizer = publish_tokenizer(store, "pt", corpus, vocab_size=800)
    return store, corpus, tokenizer, texts


@pytest.fixture(scope="module")
def shards(setup: tuple[ArtifactStore, Manifest, Manifest, list[str]]) -> Manifest:
    store, corpus, tokenizer, _ = setup
    return build_shards(store, "one", corpus, tokenizer, settings=LIMITED.replace(val_fraction=0.1))


def test_shards_decode_to_the_exact_documents_in_order(
    setup: tuple[ArtifactStore, Manifest, Manifest, list[str]], shards: Manifest
) -> None:
    tok = load_tokenizer(shards.path_of(TOKENIZER_FILE))
    eos = shards.extra["eos_id"]
    assert eos == 0
    decoded = {}
    for split in ("train", "val"):
        docs = list(read_documents(shards, split))
        assert all(d[-1] == eos and eos not in d[:-1] for d in docs), "exactly one EOS, at the end"
        decoded[split] = [tok.decode(d[:-1]) for d in docs]
    texts = setup[3]
    assert decoded["train"] and decoded["val"]
    assert not set(decoded["train"]) & set(decoded["val"])
    assert sorted(decoded["train"] + decoded["val"]) == sorted(texts)
    for split in ("train", "val"):
        members = set(decoded[split])
        assert decoded[split] == [t for t in texts if t in members], "corpus order is kept"


def test_index_and_manifest_counts_are_consistent(shards: Manifest) -> None:
    assert verify(shards) == []
    extra = shards.extra
    assert extra["dtype"] == "uint16" and extra["tokenizer_file"] == TOKENIZER_FILE
    assert extra["special_tokens"] == {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    assert extra["tokenizer_sha256"] == shards.file(TOKENIZER_FILE).sha256
    assert set(shards.parents) == {"corpus", "tokenizer"}
    for split in ("train", "val"):
        entries = [f for f in shards.files if f.path.startswith(split + "_") and f.path.endswith(".ds")]
        assert len(entries) == extra["splits"][split]["files"]
        for entry in entries:
            tokens = np.fromfile(shards.path_of(entry), dtype="<u2")
            ends = np.fromfile(shards.path_of(entry.path + ".index"), dtype="<u8")
            assert entry.bytes == 2 * tokens.size and entry.tokens == tokens.size == int(ends[-1])
            assert entry.documents == ends.size and (np.diff(ends.astype(np.int64)) > 0).all()
            assert entry.extra["split"] == split
            assert int(tokens.max()) < extra["vocab_size"]
        assert sum(e.tokens for e in entries) == extra["splits"][split]["tokens"]
        assert sum(e.documents for e in entries) == extra["splits"][split]["documents"]
        assert sum(1 for _ in read_documents(shards, split)) == extra["splits"][split]["documents"]
    assert not any(f.path.endswith(".loss") for f in shards.files)


def test_shard_size_limit_is_respected_without_splitting_documents(shards: Manifest) -> None:
    train = sorted(
        (f for f in shards.files if f.path.startswith("train_") and f.path.endswith(".ds")),
        key=lambda f: f.path,
    )
    assert len(train) >= 3, "the limit is small enough to force several shards"
    eos = shards.extra["eos_id"]
    for entry, following in zip(train, [*train[1:], None], strict=True):
        assert entry.tokens <= SHARD_LIMIT
        docs = _docs_of(shards, entry.path)
        assert all(d[-1] == eos and eos not in d[:-1] for d in docs), "every shard holds whole documents"
        if following is not None:
            next_doc = _docs_of(shards, following.path)[0]
            assert entry.tokens + next_doc.size > SHARD_LIMIT, (
                "a shard closes only when the next doc won't fit"
            )


def _docs_of(manifest: Manifest, path: str) -> list[np.ndarray]:
    tokens = np.fromfile(manifest.path_of(path), dtype="<u2")
    ends = np.fromfile(manifest.path_of(path + ".index"), dtype="<u8").astype(np.int64)
    return np.split(tokens, ends[:-1])


def test_datatrove_reads_the_shards(shards: Manifest) -> None:
    folder = shards.root
    assert folder is not None
    total = sum(f.tokens for f in shards.files if f.path.endswith(".ds"))
    dataset = DatatroveFolderDataset(str(folder), seq_len=31, token_size=2)
    assert len(dataset) == sum(f.tokens // 32 for f in shards.files if f.path.endswith(".ds"))
    first = sorted(f.path for f in shards.files if f.path.endswith(".ds"))[0]
    expected = np.fromfile(folder / first, dtype="<u2")[:32].astype(np.int64)
    assert dataset[0]["input_ids"].tolist() == expected.tolist()
    assert total > 0


def test_workers_do_not_change_the_output(
    setup: tuple[ArtifactStore, Manifest, Manifest, list[str]], shards: Manifest
) -> None:
    store, corpus, tokenizer, _ = setup
    parallel = build_shards(
        store,
        "two",
        corpus,
        tokenizer,
        settings=LIMITED.replace(val_fraction=0.1),
        workers=2,
        token_cache=False,  # every document is encoded by the worker processes
    )
    assert parallel.stats["build"]["encoded"] == len(setup[3])
    assert parallel.fingerprint == shards.fingerprint
    assert [(f.path, f.sha256) for f in parallel.files] == [(f.path, f.sha256) for f in shards.files]


def test_verify_detects_flipped_byte_and_truncation(
    setup: tuple[ArtifactStore, Manifest, Manifest, list[str]], tmp_path: Path
) -> None:
    _, corpus, tokenizer, _ = setup
    manifest = build_shards(ArtifactStore(tmp_path), "damaged", corpus, tokenizer, settings=LIMITED)
    assert verify(manifest) == []
    flipped = manifest.path_of("train_00000.ds")
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    truncated = manifest.path_of("train_00001.ds.index")
    truncated.write_bytes(truncated.read_bytes()[:-8])
    problems = verify(manifest)
    assert any(p.startswith("train_00000.ds:") and "sha256" in p for p in problems)
    assert any(p.startswith("train_00001.ds.index:") and "size" in p for p in problems)
    assert len(problems) == 2


def test_writer_loss_masks_and_oversized_documents(tmp_path: Path) -> None:
    writer = ShardWriter(tmp_path, "train", max_tokens_per_shard=10)
    writer.add([5, 6, 7, 0], loss_mask=[0, 0, 1, 1])
    writer.add(list(range(1, 13)), loss_mask=[1] * 12)  # longer than the limit: a shard of its own
    writer.add([9, 0], loss_mask=[0, 1])
    with pytest.raises(ValueError, match="loss mask"):
        writer.add([1, 0])
    with pytest.raises(ValueError, match="uint16"):
        writer.add([70_000, 0], loss_mask=[1, 1])
    with pytest.raises(ValueError, match="one 0 or 1 per token"):
        writer.add([3, 0], loss_mask=[1, 2])
    counts = writer.close()
    assert counts["train_00000.ds"] == {"tokens": 4, "documents": 1, "split": "train"}
    assert counts["train_00001.ds"]["tokens"] == 12
    assert counts["train_00002.ds"]["documents"] == 1
    assert np.fromfile(tmp_path / "train_00000.ds.loss", dtype="u1").tolist() == [0, 0, 1, 1]
    assert np.fromfile(tmp_path / "train_00002.ds", dtype="<u2").tolist() == [9, 0]
    assert np.fromfile(tmp_path / "train_00001.ds.index", dtype="<u8").tolist() == [12]
    assert (tmp_path / "train_00000.ds").read_bytes() == b"\x05\x00\x06\x00\x07\x00\x00\x00"


def test_validation_split_is_by_id_and_never_empty() -> None:
    ids = [f"doc-{i}" for i in range(200)]
    val = validation_ids(iter(ids), 0.1)
    assert 0 < len(val) < 200
    assert validation_ids(iter(reversed(ids)), 0.1) == val, "order does not matter"
    assert validation_ids(iter(ids[:100]), 0.1) == val & set(ids[:100]), "a document keeps its split"
    assert len(validation_ids(iter(["a", "b"]), 0.0)) == 1
    assert len(validation_ids(iter(ids), 0.999999)) <= 199
    assert validation_ids(iter(["solo"]), 0.0) == set()
