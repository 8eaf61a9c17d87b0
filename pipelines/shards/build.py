"""``build_shards``: a corpus version encoded with a tokenizer version, published as a shards version.

This module only checks its inputs, orders the steps and writes the manifest; each step lives in the
module named after it (the split, the mix, the encoding pool, the resumable text shards, the
instruction shards), and the file format itself in `garimpo.core.formats`, which the trainer reads
with. The published version's ``config`` records every setting and rule that decided its bytes; the
output does not depend on the worker count, on the token cache or on how often the build was killed
and resumed, so the same inputs and settings always publish the same version.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from garimpo.core import ArtifactError, ArtifactStore, Built, Manifest, verify_or_raise
from garimpo.core.formats import (
    DTYPE_NAME,
    EOS_TOKEN,
    MAX_TOKEN_ID,
    SHARD_SUFFIX,
    SOURCES,
    SPLITS,
    TOKENIZER_FILE,
)
from garimpo.core.fs import link_or_copy, remove_tree
from garimpo.core.store import CACHE_DIR
from pipelines.corpus_files import corpus_batches
from pipelines.shards.instruct import check_instruct, check_renders, write_instruct_shards
from pipelines.shards.mix import MIX_RULE
from pipelines.shards.resume import TextShardResult, claim_work, write_text_shards
from pipelines.shards.settings import ShardSettings, load_shard_settings
from pipelines.shards.split import SPLIT_RULE, validation_ids
from pipelines.tokenizer import TokenCache, special_token_ids


def build_shards(
    store: ArtifactStore,
    name: str,
    corpus: Manifest,
    tokenizer: Manifest,
    instruct: Manifest | None = None,
    settings: ShardSettings | None = None,
    workers: int = 1,
    *,
    token_cache: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Manifest:
    """Encode a corpus version with a tokenizer version and publish ``shards/<name>/<version>``.

    With ``instruct`` (an instruct version), its conversations are rendered with the chat template
    into ``sft-*`` shards with loss masks beside the text shards, which stay exactly as without it.
    ``settings`` (the shipped default when None) give the split, the shard size and the source mix.
    Documents keep corpus order within each split and pass, and conversations keep file order.
    ``progress(shard_name)`` is called when a text shard is finished and marked.
    """
    settings = settings if settings is not None else load_shard_settings()
    verify_or_raise(corpus)
    verify_or_raise(tokenizer)
    if instruct is not None:
        check_instruct(instruct)
    tokenizer_text = tokenizer.path_of(TOKENIZER_FILE).read_text(encoding="utf-8")
    tokenizer_sha256 = tokenizer.file(TOKENIZER_FILE).sha256
    tok = _checked_tokenizer(tokenizer, tokenizer_text, for_instruct=instruct is not None)
    val_ids = validation_ids(
        (doc_id for batch in corpus_batches(corpus, ["id"]) for doc_id in batch["id"]), settings.val_fraction
    )
    work = claim_work(store, corpus, tokenizer_sha256, settings)
    cache = TokenCache(store.root / CACHE_DIR / "tokens", tokenizer_sha256) if token_cache else None
    try:
        text = write_text_shards(
            work, corpus, tokenizer_text, val_ids, settings, workers=workers, cache=cache, progress=progress
        )
    finally:
        if cache is not None:
            cache.close()

    def build(folder: Path) -> Built:
        return _assemble(folder, text, tokenizer, tokenizer_text, instruct, settings)

    parents = {"corpus": corpus.ref, "tokenizer": tokenizer.ref}
    if instruct is not None:
        parents["instruct"] = instruct.ref
    manifest = store.publish(
        "shards",
        name,
        build,
        config={
            "val_fraction": settings.val_fraction,
            "max_tokens_per_shard": settings.max_tokens_per_shard,
            "split_rule": SPLIT_RULE,
            "eos_policy": f"one {EOS_TOKEN} after every document, counted in that document",
            "mix": settings.recorded_mix,
            "mix_seed": settings.mix_seed,
            "mix_rule": MIX_RULE,
        },
        parents=parents,
        extra={
            "dtype": DTYPE_NAME,
            "vocab_size": tok.get_vocab_size(),
            "eos_id": tok.token_to_id(EOS_TOKEN),
            "special_tokens": special_token_ids(tok),
            "tokenizer_file": TOKENIZER_FILE,
            "tokenizer_sha256": tokenizer_sha256,
        },
    )
    remove_tree(work)  # atomically: a kill here must not leave markers without their files
    return manifest


def _checked_tokenizer(tokenizer: Manifest, tokenizer_text: str, for_instruct: bool) -> Tokenizer:
    """The tokenizer of a tokenizer version, refused when its ids cannot be shards of this format."""
    tok = Tokenizer.from_str(tokenizer_text)
    if tok.get_vocab_size() > MAX_TOKEN_ID:
        raise ArtifactError(f"{tokenizer.ref}: vocab {tok.get_vocab_size()} does not fit uint16 shards")
    if tok.token_to_id(EOS_TOKEN) is None:
        raise ArtifactError(f"{tokenizer.ref}: tokenizer has no {EOS_TOKEN} token")
    if for_instruct:
        check_renders(tok, tokenizer)
    return tok


def _assemble(
    folder: Path,
    text: TextShardResult,
    tokenizer: Manifest,
    tokenizer_text: str,
    instruct: Manifest | None,
    settings: ShardSettings,
) -> Built:
    """The version folder: the finished text shards linked in, the instruction shards rendered into
    it, the tokenizer beside them; with the counts and stats of all of it."""
    for path in text.counts:
        link_or_copy(text.files / path, folder / path)
    counts = _with_source(text.counts, "text")
    stats: dict[str, Any] = {}
    if instruct is not None:
        instruct_counts, stats["instruct"] = write_instruct_shards(
            folder, instruct, tokenizer_text, settings.val_fraction, settings.max_tokens_per_shard
        )
        counts.update(_with_source(instruct_counts, "instruct"))
    shutil.copyfile(tokenizer.path_of(TOKENIZER_FILE), folder / TOKENIZER_FILE)
    totals = split_totals(counts)
    return Built(
        counts=counts,
        stats={
            "documents": sum(t["documents"] for t in totals.values()),
            "tokens": sum(t["tokens"] for t in totals.values()),
            **totals,
            "mix": {s: {"weight": settings.mix.get(s, 1.0), **c} for s, c in text.sources.items()},
            **stats,
            "build": text.work,
        },
        extra={"splits": totals, "sources": source_totals(counts)},
    )


def _with_source(counts: dict[str, dict[str, Any]], source: str) -> dict[str, dict[str, Any]]:
    return {path: {**c, "source": source} for path, c in counts.items()}


def split_totals(counts: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{split: {"tokens", "documents", "files"}}`` summed over the ``.ds`` entries of ``counts``."""
    totals = {split: {"tokens": 0, "documents": 0, "files": 0} for split in SPLITS}
    for path, c in counts.items():
        if path.endswith(SHARD_SUFFIX):
            t = totals[c["split"]]
            t["tokens"] += c["tokens"]
            t["documents"] += c["documents"]
            t["files"] += 1
    return totals


def source_totals(counts: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    """``{source: {split: {"tokens", "documents", "files"}}}`` for every source present in ``counts``."""
    present = {c["source"] for c in counts.values()}
    return {
        source: split_totals({p: c for p, c in counts.items() if c["source"] == source})
        for source in SOURCES
        if source in present
    }
