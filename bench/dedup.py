"""Near-duplicate detection quality on real Portuguese with controlled edits; prints one JSON line.

Every pt_text document of at least 80 words (Bosque, PetroGold, Machado chapters, ...) is an original.
Each original gets edited copies: words inserted (taken from another document), words deleted, and
the same article wrapped in site boilerplate (menus, footers). The true similarity of a copy is the
exact Jaccard of its word 5-gram set with the original's (the shingles the dedup stage hashes). Copies
with true Jaccard >= 0.8 should be caught as duplicates, copies <= 0.6 should be kept; the band in
between is where MinHash LSH is a coin toss by design and is reported, not scored. A kept original
wrongly removed counts as a false positive too.

    .venv/bin/python -m bench.dedup
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from datatrove.data import Document

from pipelines.recipe import load_recipe
from pipelines.stages.dedup import Deduplicator, shingles

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pt_text"
DUPLICATE_AT, DISTINCT_AT = 0.8, 0.6
EDIT_RATES = (0.01, 0.03, 0.06, 0.12, 0.25)
BOILERPLATE = (
    "Início | Notícias | Esportes | Política | Economia | Cultura | Contato\n"
    "Assine a nossa newsletter e receba as principais notícias do dia no seu e-mail.\n"
    "Compartilhe: Facebook Twitter WhatsApp E-mail\n"
)
FOOTER = "\nLeia também\n© 2024 Todos os direitos reservados. Proibida a reprodução sem autorização.\nVoltar ao topo"


def jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles(a, 5)), set(shingles(b, 5))
    return len(sa & sb) / len(sa | sb)


def originals(min_words: int = 80) -> list[str]:
    texts = []
    for path in sorted(DATA.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = record.get("text") or record["text_hardwrapped"]
            if len(text.split()) >= min_words:
                texts.append(text)
    return texts


def edited(text: str, donor: str, rate: float, rng: random.Random) -> str:
    """The text with about ``rate`` of its words deleted or replaced by insertions from ``donor``."""
    words, extra = text.split(), donor.split()
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 2:
            continue  # deletion
        out.append(w)
        if r > 1 - rate / 2:
            out.extend(rng.sample(extra, min(len(extra), rng.randint(1, 3))))  # insertion
    return " ".join(out)


def build(seed: int = 0) -> tuple[list[Document], dict[str, tuple[str, float]]]:
    """Documents (originals first, then copies) and, per copy id, (original id, true Jaccard)."""
    rng = random.Random(seed)
    texts = originals()
    docs = [
        Document(text=t, id=f"o{i}", metadata={"input_file": "a", "input_line": i})
        for i, t in enumerate(texts)
    ]
    truth: dict[str, tuple[str, float]] = {}
    line = len(texts)
    for i, text in enumerate(texts):
        donor = texts[(i + 1) % len(texts)]
        copies = [edited(text, donor, rng.choice(EDIT_RATES), rng)]
        copies.append(BOILERPLATE * rng.randint(1, 3) + text + FOOTER)
        copies.append(edited(BOILERPLATE + text, donor, rng.choice(EDIT_RATES), rng))
        for k, copy in enumerate(copies):
            cid = f"o{i}c{k}"
            docs.append(Document(text=copy, id=cid, metadata={"input_file": "b", "input_line": line}))
            truth[cid] = (f"o{i}", jaccard(text, copy))
            line += 1
    return docs, truth


def evaluate(recipe_dedup, docs: list[Document], truth: dict[str, tuple[str, float]]) -> dict:
    start = time.perf_counter()
    _, rejected = Deduplicator(recipe_dedup).dedupe(docs)
    seconds = time.perf_counter() - start
    removed = {d.id: d.metadata["duplicate_of"] for d in rejected}
    tp = fp = fn = tn = 0
    band = {"n": 0, "removed": 0}
    for cid, (orig, sim) in truth.items():
        caught = removed.get(cid) == orig
        if sim >= DUPLICATE_AT:
            tp, fn = tp + caught, fn + (not caught)
        elif sim <= DISTINCT_AT:
            fp, tn = fp + (cid in removed), tn + (cid not in removed)
        else:
            band["n"] += 1
            band["removed"] += cid in removed
    fp += sum(1 for d in rejected if d.id.startswith("o") and "c" not in d.id)  # originals removed
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / max(precision + recall, 1e-9), 4),
        "duplicates": tp + fn,
        "distinct_copies": tn + fp,
        "between_0.6_0.8": band,
        "docs_per_s": round(len(docs) / seconds, 1),
    }


def main() -> None:
    if not DATA.is_dir():
        print(json.dumps({"bench": "dedup", "error": f"shared data not found at {DATA}"}))
        return
    docs, truth = build()
    settings = load_recipe().dedup
    print(
        json.dumps(
            {
                "bench": "dedup",
                "originals": len(docs) - len(truth),
                "copies": len(truth),
                "settings": {
                    "bands": settings.bands,
                    "rows": settings.rows,
                    "min_similarity": settings.min_similarity,
                },
                **evaluate(settings, docs, truth),
            }
        )
    )


if __name__ == "__main__":
    main()
