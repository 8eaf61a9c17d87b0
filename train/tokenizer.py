"""Read a byte-level BPE ``tokenizer.json``: decoding in plain Python, encoding via ``tokenizers``.

Decoding is only a table lookup (token string -> bytes through GPT-2's byte-to-unicode alphabet), so
it needs nothing beyond the file: a GPU box or a notebook can turn generated ids into text with just
``garimpo[train]``. Encoding needs the BPE merges and the NFC normalizer and pre-tokenizer exactly as
trained, so it is delegated to the Hugging Face ``tokenizers`` package, imported only when needed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def byte_decoder() -> dict[str, int]:
    """GPT-2's map from the printable stand-in characters of byte-level BPE back to bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    chars, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


class Tokenizer:
    """A byte-level BPE tokenizer loaded from a Hugging Face ``tokenizer.json``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        spec: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        decoder = (spec.get("decoder") or {}).get("type")
        if spec.get("model", {}).get("type") != "BPE" or decoder != "ByteLevel":
            raise ValueError(
                f"{self.path}: only byte-level BPE tokenizers are supported "
                f"(model {spec.get('model', {}).get('type')!r}, decoder {decoder!r})"
            )
        table = byte_decoder()
        self._bytes: dict[int, bytes] = {
            i: bytes(table[c] for c in token) for token, i in spec["model"]["vocab"].items()
        }
        self.special: dict[str, int] = {}
        for added in spec.get("added_tokens", []):
            self._bytes[added["id"]] = added["content"].encode("utf-8")
            if added.get("special"):
                self.special[added["content"]] = added["id"]
        self.vocab_size = max(self._bytes) + 1
        self._encoder: Any = None

    def token_to_id(self, token: str) -> int | None:
        return self.special.get(token)

    def byte_lengths(self, vocab_size: int) -> list[int]:
        """UTF-8 bytes each id stands for (0 for special tokens and unused ids), for bits per byte."""
        special = set(self.special.values())
        return [0 if i in special else len(self._bytes.get(i, b"")) for i in range(vocab_size)]

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids``; bytes that do not form valid UTF-8 (a cut multi-byte char) become U+FFFD."""
        skip = set(self.special.values()) if skip_special_tokens else set()
        return b"".join(self._bytes[i] for i in ids if i not in skip).decode("utf-8", errors="replace")

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens added), using the ``tokenizers`` package."""
        if self._encoder is None:
            try:
                from tokenizers import Tokenizer as HFTokenizer
            except ImportError as e:
                raise ImportError(
                    "encoding text needs the 'tokenizers' package: pip install tokenizers"
                ) from e
            self._encoder = HFTokenizer.from_file(str(self.path))
        return self._encoder.encode(text, add_special_tokens=False).ids
