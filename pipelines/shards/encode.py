"""Encoding document texts into token arrays, on a bounded pool that keeps input order.

Encoding is the slow step of a shard build, so it runs beside everything else: with one worker on a
background thread (``encode_batch`` releases the GIL and spreads a batch over every core, so reading,
hashing and writing the previous batch overlap it), with more on worker processes. At most
``2 * workers`` batches are in flight, so memory stays bounded however large the corpus is, and
results come back in submission order, so the shards never depend on the worker count.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import numpy as np
from tokenizers import Tokenizer

from garimpo.core.formats import TOKEN_DTYPE
from pipelines.tokenizer import document_encoder

ENCODE_BATCH = 1024  # documents per encode_batch call: large enough to keep every core busy

T = TypeVar("T")
_worker_tokenizer: Tokenizer | None = None


def _encode(tok: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    if not texts:
        return []
    encodings = tok.encode_batch(texts, add_special_tokens=False)
    return [np.asarray(e.ids, dtype=TOKEN_DTYPE) for e in encodings]


def _init_worker(tokenizer_text: str) -> None:
    global _worker_tokenizer
    _worker_tokenizer = document_encoder(Tokenizer.from_str(tokenizer_text))


def _encode_in_worker(texts: list[str]) -> list[np.ndarray]:
    assert _worker_tokenizer is not None
    return _encode(_worker_tokenizer, texts)


def encoded(
    batches: Iterator[tuple[T, list[str]]], tokenizer_text: str, workers: int
) -> Iterator[tuple[T, list[np.ndarray]]]:
    """``(tag, token arrays)`` per ``(tag, texts)`` batch, in input order, special strings escaped."""
    pool: Executor
    if workers <= 1:
        tok = document_encoder(Tokenizer.from_str(tokenizer_text))
        pool = ThreadPoolExecutor(1)
        encode: Callable[[list[str]], list[np.ndarray]] = partial(_encode, tok)
    else:
        # spawn, not fork: the tokenizers library's thread pool does not survive a fork.
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(tokenizer_text,)
        )
        encode = _encode_in_worker
    with pool:
        pending: deque[tuple[T, Future[list[np.ndarray]]]] = deque()
        for tag, texts in batches:
            pending.append((tag, pool.submit(encode, texts)))
            if len(pending) >= 2 * max(workers, 1):
                tag, future = pending.popleft()
                yield tag, future.result()
        while pending:
            tag, future = pending.popleft()
            yield tag, future.result()
