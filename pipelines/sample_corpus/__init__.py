"""A small, deterministic sample corpus that garimpo writes itself, defects included.

Why generate instead of shipping scraped text: the demo and the tests need documents whose flaws are
known exactly (how many duplicates, which ids are Spanish, which lines are blog boilerplate), and text
the project may redistribute. Every document is built from templates and word lists written for this
module (the JSON files beside it, read by ``templates``), so nothing is copied from anywhere.

The clean part is fluent Portuguese prose (pt-BR, with a share of pt-PT made by swapping vocabulary)
rich in common stop words, shaped so that the FineWeb-2 Portuguese quality filters keep it: several
punctuated paragraphs, no repeated sentences inside a document, and enough template variety that
unrelated documents stay far apart for MinHash. Around it sit the defects real scrapes have, each in
a known count recorded in the returned summary and in ``sample_info.json``:

* ``web.jsonl``: clean pages plus exact duplicates, near duplicates, Spanish and English pages,
  mojibake, keyword spam, short junk, malformed JSON lines and an empty text record;
* ``blog.jsonl``: clean posts wrapped in blog boilerplate lines ("Postado por", "Marcadores:", ...);
* ``instruct.jsonl``: Alpaca-style records, some broken in the usual ways.

The same ``seed`` and ``n_docs`` always give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from garimpo.core.formats import EOS_TOKEN
from pipelines.sample_corpus.templates import (
    BLOG_AUTHORS,
    CITIES,
    ENGLISH_SENTENCES,
    ENGLISH_SLOTS,
    GENERIC_SENTENCES,
    GENERIC_SLOTS,
    INSTRUCT_ENGLISH_ANSWERS,
    INSTRUCT_RECORDS,
    NEAR_DUPLICATE_WORDS,
    PT_PT_WORDS,
    SHORT_JUNK,
    SPAM_KEYWORDS,
    SPANISH_SENTENCES,
    SPANISH_SLOTS,
    TOPICS,
)

INFO_FILE = "sample_info.json"
ENDOFTEXT_LITERAL = EOS_TOKEN  # the planted control-token defect is the real end-of-text token
_SLOT = re.compile(r"\{(\w+)\}")


class _Writer:
    """Slot filling and document building around one seeded random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def bind(self, slots: dict[str, tuple[str, ...]]) -> dict[str, str]:
        """One value per slot for a whole document, so a page talks about one club, one city."""
        return {name: self.rng.choice(values) for name, values in slots.items()}

    @staticmethod
    def fill(template: str, values: dict[str, str]) -> str:
        return _SLOT.sub(lambda m: values[m.group(1)], template)

    def portuguese_doc(self, variety: str) -> tuple[str, str]:
        """A titled multi-paragraph document; returns (text, topic theme)."""
        topic = self.rng.choice(TOPICS)
        values = self.bind(
            {**GENERIC_SLOTS, **topic.slots, "cidade": CITIES[variety], "tema": (topic.theme,)}
        )
        pool = list(topic.sentences) + list(GENERIC_SENTENCES)
        n_paragraphs = self.rng.randint(3, 4)
        sizes = [self.rng.randint(2, 3) for _ in range(n_paragraphs)]
        # Sampling without replacement: a sentence never repeats inside a document, which keeps the
        # Gopher repetition ratios low, and two documents share few sentences, which keeps MinHash quiet.
        chosen = self.rng.sample(pool, sum(sizes))
        paragraphs, start = [], 0
        for size in sizes:
            paragraphs.append(" ".join(self.fill(s, values) for s in chosen[start : start + size]))
            start += size
        title = self.fill(self.rng.choice(topic.titles), values)
        text = title + "\n\n" + "\n\n".join(paragraphs)
        if variety == "pt-PT":
            text = to_pt_pt(text)
        return text, topic.theme

    def foreign_doc(self, sentences: tuple[str, ...], slots: dict[str, tuple[str, ...]]) -> str:
        values = self.bind(slots)
        chosen = [self.fill(s, values) for s in self.rng.sample(sentences, self.rng.randint(6, 8))]
        half = len(chosen) // 2
        return " ".join(chosen[:half]) + "\n\n" + " ".join(chosen[half:])

    def near_duplicate(self, text: str, n_changes: int) -> str:
        """``text`` with ``n_changes`` longer words swapped for others: same page, lightly edited."""
        words = text.split(" ")
        candidates = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
        for i in self.rng.sample(candidates, min(n_changes, len(candidates))):
            words[i] = self.rng.choice([r for r in NEAR_DUPLICATE_WORDS if r != words[i]])
        return " ".join(words)

    def keyword_spam(self) -> str:
        words = [self.rng.choice(SPAM_KEYWORDS) for _ in range(self.rng.randint(40, 60))]
        return " ".join(words)


def to_pt_pt(text: str) -> str:
    """Swap pt-BR words for their pt-PT counterparts (longest first, whole words only)."""
    for br in sorted(PT_PT_WORDS, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(br)}\b", PT_PT_WORDS[br], text)
    return text


def mojibake(text: str) -> str:
    """UTF-8 bytes misread as Windows-1252 (Latin-1 where 1252 has holes): 'ção' -> 'Ã§Ã£o'."""
    out = []
    for byte in text.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


def _scaled(n_docs: int, per_400: int) -> int:
    return max(1, round(per_400 * n_docs / 400))


def _web_and_blog(w: _Writer, n_docs: int) -> tuple[list[str], list[str], dict[str, Any]]:
    """The web and blog JSONL lines plus the counts and ids of every defect."""
    rng = w.rng
    counts = {
        "exact_duplicates": _scaled(n_docs, 12),
        "near_duplicates": _scaled(n_docs, 12),
        "spanish": _scaled(n_docs, 10),
        "english": _scaled(n_docs, 10),
        "mojibake": _scaled(n_docs, 8),
        "keyword_spam": _scaled(n_docs, 6),
        "short_junk": _scaled(n_docs, 10),
        "malformed_lines": 2,
        "empty_text": 1,
    }
    n_blog = round(0.2 * n_docs)
    n_clean = n_docs - n_blog - sum(counts.values())
    if n_clean < counts["exact_duplicates"] + counts["near_duplicates"]:
        raise ValueError(f"n_docs={n_docs} is too small for a sample corpus with every defect (try >= 60)")

    # Each web item is (kind, text or None, index of the original for duplicates).
    items: list[tuple[str, str | None, int | None]] = []
    n_pt_pt = 0
    for _ in range(n_clean):
        variety = "pt-PT" if rng.random() < 0.25 else "pt-BR"
        n_pt_pt += variety == "pt-PT"
        items.append(("clean", w.portuguese_doc(variety)[0], None))
    originals = rng.sample(range(n_clean), counts["exact_duplicates"] + counts["near_duplicates"])
    for k, orig in enumerate(originals):
        if k < counts["exact_duplicates"]:
            items.append(("exact_duplicates", items[orig][1], orig))
        else:
            items.append(("near_duplicates", w.near_duplicate(items[orig][1] or "", rng.randint(2, 3)), orig))
    for _ in range(counts["spanish"]):
        items.append(("spanish", w.foreign_doc(SPANISH_SENTENCES, SPANISH_SLOTS), None))
    for _ in range(counts["english"]):
        items.append(("english", w.foreign_doc(ENGLISH_SENTENCES, ENGLISH_SLOTS), None))
    for _ in range(counts["mojibake"]):
        items.append(("mojibake", mojibake(w.portuguese_doc("pt-BR")[0]), None))
    for _ in range(counts["keyword_spam"]):
        items.append(("keyword_spam", w.keyword_spam(), None))
    for _ in range(counts["short_junk"]):
        items.append(("short_junk", rng.choice(SHORT_JUNK), None))
    items.extend([("malformed_lines", None, None)] * counts["malformed_lines"])
    items.append(("empty_text", "", None))

    order = list(range(len(items)))
    rng.shuffle(order)
    ids = {}
    for position, item_index in enumerate(order):
        ids[item_index] = f"web-{position:05d}"
    defect_ids: dict[str, list[Any]] = {kind: [] for kind in counts}
    web_lines = []
    for item_index in order:
        kind, text, orig = items[item_index]
        doc_id = ids[item_index]
        if kind == "malformed_lines":
            # A line cut in the middle of a string, as a crashed crawler leaves it.
            web_lines.append(f'{{"id": "{doc_id}", "text": "Esta página foi salva pela metade e')
        else:
            web_lines.append(_jsonl({"id": doc_id, "text": text, "source": "web"}))
        if kind in ("exact_duplicates", "near_duplicates"):
            defect_ids[kind].append([ids[orig], doc_id])
        elif kind != "clean":
            defect_ids[kind].append(doc_id)

    blog_lines, n_boilerplate_lines = [], 0
    for i in range(n_blog):
        text, theme = w.portuguese_doc("pt-BR")
        author = rng.choice(BLOG_AUTHORS)
        header = [f"Postado por {author} às {rng.randint(7, 23):02d}:{rng.randint(0, 59):02d}"]
        footer = [
            f"Marcadores: {theme.split(' ', 1)[1]}, dicas, cotidiano",
            "Nenhum comentário:",
            "Compartilhe no Facebook",
            f"Leia também: {w.portuguese_doc('pt-BR')[0].splitlines()[0]}",
        ]
        footer = rng.sample(footer, rng.randint(2, 4))
        n_boilerplate_lines += len(header) + len(footer)
        full = "\n".join(header) + "\n\n" + text + "\n\n" + "\n".join(footer)
        blog_lines.append(_jsonl({"id": f"blog-{i:05d}", "text": full, "source": "blog"}))

    summary = {
        "web": {"lines": len(web_lines), "clean": n_clean, "clean_pt_pt": n_pt_pt, **counts},
        "blog": {"lines": n_blog, "boilerplate_lines": n_boilerplate_lines},
        "ids": defect_ids,
    }
    return web_lines, blog_lines, summary


def _instruct(w: _Writer, n_records: int) -> tuple[list[str], dict[str, Any]]:
    """Alpaca-style JSONL lines: mostly sound records plus the usual breakages in known counts."""
    rng = w.rng
    per_kind = min(3, max(1, n_records // 27))
    kinds = (
        "empty_output",
        "noinput_placeholder",
        "template_placeholder",
        "english_answer",
        "mojibake",
        "endoftext_literal",
        "truncated_answer",
        "duplicate_prompt",
    )
    pool = [dict(r) for r in INSTRUCT_RECORDS]

    def take(fits: Callable[[dict[str, str]], bool]) -> dict[str, str]:
        # Broken records get their own prompts, so the only repeated prompts are the intended ones.
        return pool.pop(next(i for i, r in enumerate(pool) if fits(r)))

    bases = {
        "truncated_answer": [take(lambda r: len(r["output"]) > 80) for _ in range(per_kind)],
        "empty_output": [take(lambda r: True) for _ in range(per_kind)],
        "noinput_placeholder": [take(lambda r: not r["input"]) for _ in range(per_kind)],
        "mojibake": [take(lambda r: not (r["instruction"] + r["output"]).isascii()) for _ in range(per_kind)],
    }
    n_clean = n_records - per_kind * len(kinds)
    clean = pool[:n_clean]
    used = {r["instruction"] for r in clean}
    while len(clean) < n_clean:
        a, b = rng.randint(10, 499), rng.randint(10, 499)
        rec = {"instruction": f"Quanto é {a} + {b}?", "input": "", "output": f"{a} + {b} = {a + b}."}
        if rec["instruction"] not in used:
            used.add(rec["instruction"])
            clean.append(rec)

    broken: list[tuple[str, dict[str, str]]] = []
    for k in range(per_kind):
        full = bases["truncated_answer"][k]
        cut = full["output"][: len(full["output"]) * 2 // 3].rstrip(" .,")
        broken.append(("truncated_answer", {**full, "output": cut}))
        broken.append(("empty_output", {**bases["empty_output"][k], "output": rng.choice(("", "   "))}))
        broken.append(("noinput_placeholder", {**bases["noinput_placeholder"][k], "input": "<noinput>"}))
        broken.append(("mojibake", {key: mojibake(v) for key, v in bases["mojibake"][k].items()}))
        broken.append(
            (
                "template_placeholder",
                {
                    "instruction": "Escreva uma mensagem de boas-vindas para {{name}}.",
                    "input": f"Equipe número {k + 1}",
                    "output": "Olá, {{name}}! Seja bem-vindo à equipe, estamos felizes com a sua chegada.",
                },
            )
        )
        english = INSTRUCT_ENGLISH_ANSWERS[k % len(INSTRUCT_ENGLISH_ANSWERS)]
        broken.append(
            (
                "english_answer",
                {"instruction": english["instruction"], "input": "", "output": english["output"]},
            )
        )
        broken.append(
            (
                "endoftext_literal",
                {
                    "instruction": "Explique o que aparece no final deste trecho.",
                    "input": f"Fim do capítulo {k + 1}.{ENDOFTEXT_LITERAL}",
                    "output": f"O trecho termina com o marcador {ENDOFTEXT_LITERAL}, usado por alguns "
                    "programas para indicar o fim de um texto.",
                },
            )
        )
        broken.append(("duplicate_prompt", dict(clean[k])))

    records = [("clean", r) for r in clean] + broken
    rng.shuffle(records)
    lines, ids = [], {kind: [] for kind in kinds}
    for n, (kind, rec) in enumerate(records):
        rec_id = f"instruct-{n:05d}"
        lines.append(_jsonl({"id": rec_id, **rec}))
        if kind != "clean":
            ids[kind].append(rec_id)
    summary = {"lines": len(lines), "clean": n_clean, **{k: per_kind for k in kinds}}
    return lines, {"instruct": summary, "instruct_ids": ids}


def _jsonl(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


def _write_lines(path: Path, lines: list[str]) -> dict[str, Any]:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(data)
    return {"lines": len(lines), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_sample_corpus(out_dir: Path, seed: int = 0, n_docs: int = 400) -> dict:
    """Write ``web.jsonl``, ``blog.jsonl``, ``instruct.jsonl`` and ``sample_info.json`` into ``out_dir``.

    ``n_docs`` is the number of lines across ``web.jsonl`` and ``blog.jsonl`` (malformed ones
    included). Returns the summary also saved as ``sample_info.json``: per-file line counts and
    checksums, the count of every defect, and the ids carrying each defect (``[original, copy]``
    pairs for duplicates).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    w = _Writer(random.Random(seed))
    web_lines, blog_lines, summary = _web_and_blog(w, n_docs)
    instruct_lines, instruct_summary = _instruct(w, max(30, n_docs // 5))
    info: dict[str, Any] = {
        "seed": seed,
        "n_docs": n_docs,
        "files": {
            "web.jsonl": _write_lines(out_dir / "web.jsonl", web_lines),
            "blog.jsonl": _write_lines(out_dir / "blog.jsonl", blog_lines),
            "instruct.jsonl": _write_lines(out_dir / "instruct.jsonl", instruct_lines),
        },
        **summary,
        **instruct_summary,
    }
    (out_dir / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return info
