"""Shards for trainer tests, written in the documented format without importing ``pipelines/``.

The helpers write ``docs/formats.md`` shards with numpy (tokens from a real byte-level BPE trained
here with ``tokenizers``) and publish them through ``ArtifactStore.publish``, so the trainer tests pin
the on-disk contract from the reader's side. ``small_cfg`` is the tiny CPU configuration they share.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np

from garimpo.core import ArtifactStore, Manifest
from garimpo.core.formats import SPECIAL_TOKENS
from garimpo.core.fs import sha256_file
from train.config import TrainConfig
from train.tokenizer import Tokenizer

SPECIALS = list(SPECIAL_TOKENS)

SUBJECTS = ["A menina", "O pescador", "A avó", "O garimpeiro", "A professora", "O menino", "A cidade"]
VERBS = ["encontrou", "vendeu", "guardou", "procurou", "lavou", "perdeu", "contou"]
OBJECTS = ["ouro no rio", "pão de queijo", "a canção antiga", "pedras brilhantes", "o caminho da serra"]
ENDINGS = ["ao amanhecer.", "depois da chuva.", "sem pressa.", "com muito cuidado.", "no coração de Minas."]


def corpus(n_docs: int, seed: int = 0) -> list[str]:
    """Small Portuguese documents with enough repetition that a tiny model learns them fast."""
    rng = random.Random(seed)
    return [
        " ".join(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ENDINGS)}"
            for _ in range(rng.randint(2, 5))
        )
        for _ in range(n_docs)
    ]


def train_tokenizer(path: Path, texts: list[str], vocab_size: int = 400) -> Path:
    """A byte-level BPE with the NFC normalizer and reserved special tokens of docs/formats.md."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    tok.save(str(path))
    return path


def publish_shards(
    store: ArtifactStore,
    name: str,
    texts: list[str],
    tokenizer_json: Path,
    *,
    loss_flags=None,
    train_shards: int = 2,
    conversations: list[tuple[str, str]] = (),
) -> Manifest:
    """Tokenize ``texts`` (each followed by <|endoftext|>), split them and publish a shards version.

    Every fifth document goes to ``val``; ``train`` is spread over ``train_shards`` files.
    ``loss_flags(doc_index, n_tokens) -> uint8 array`` adds ``.ds.loss`` files when given.
    ``conversations`` (question, answer) are rendered with the chat template into ``sft-<split>``
    files of source ``instruct``, with loss flags on the answer and the closing <|endoftext|>.
    """
    tok = Tokenizer(tokenizer_json)
    eos, query, answer = (tok.token_to_id(t) for t in ("<|endoftext|>", "<|query|>", "<|answer|>"))
    docs = []  # (tokens, loss flags or None)
    for i, t in enumerate(texts):
        ids = np.array([*tok.encode(t), eos], dtype=np.uint16)
        docs.append((ids, None if loss_flags is None else loss_flags(i, len(ids)).astype(np.uint8)))
    files: dict[str, tuple[list[int], str]] = {
        "val_00000": ([i for i in range(len(docs)) if i % 5 == 4], "text")
    }
    train_docs = [i for i in range(len(docs)) if i % 5 != 4]
    for s in range(train_shards):
        files[f"train_{s:05d}"] = (train_docs[s::train_shards], "text")
    first = len(docs)
    for q, a in conversations:
        prompt, reply = [query, *tok.encode(q), answer], [*tok.encode(a), eos]
        flags = np.array([0] * len(prompt) + [1] * len(reply), dtype=np.uint8)
        docs.append((np.array(prompt + reply, dtype=np.uint16), flags))
    if conversations:
        sft = list(range(first, len(docs)))
        files["sft-val_00000"] = ([i for i in sft if i % 5 == 4], "instruct")
        files["sft-train_00000"] = ([i for i in sft if i % 5 != 4], "instruct")

    def build(folder: Path) -> dict:
        counts = {}
        for stem, (idx, source) in files.items():
            toks = np.concatenate([docs[i][0] for i in idx])
            toks.astype("<u2").tofile(folder / f"{stem}.ds")
            np.cumsum([len(docs[i][0]) for i in idx]).astype("<u8").tofile(folder / f"{stem}.ds.index")
            split = stem.removeprefix("sft-").split("_")[0]
            counts[f"{stem}.ds"] = {
                "tokens": len(toks),
                "documents": len(idx),
                "split": split,
                "source": source,
            }
            if docs[idx[0]][1] is not None:
                np.concatenate([docs[i][1] for i in idx]).tofile(folder / f"{stem}.ds.loss")
        shutil.copyfile(tokenizer_json, folder / "tokenizer.json")
        return counts

    return store.publish(
        "shards",
        name,
        build,
        extra={
            "dtype": "uint16",
            "vocab_size": tok.vocab_size,
            "eos_id": eos,
            "special_tokens": {s: tok.token_to_id(s) for s in SPECIALS},
            "tokenizer_file": "tokenizer.json",
            "tokenizer_sha256": sha256_file(tokenizer_json),
        },
    )


def small_cfg(**overrides) -> TrainConfig:
    """A tiny model trained for ten steps on CPU, with every setting in ``overrides`` replaced."""
    base = {
        "model": {"preset": "tiny", "seq_len": 64},
        "batch_size": 8,
        "max_steps": 10,
        "lr": 3e-3,
        "warmup_steps": 3,
        "eval_every": 5,
        "eval_windows": 8,
        "checkpoint_every": 5,
        "log_every": 5,
        "keep_checkpoints": 2,
        "device": "cpu",
        "eval_prompts": [],
    }
    return TrainConfig.from_dict({**base, **overrides})
