"""Near-duplicate detection quality on real Portuguese with controlled edits; prints one JSON line.

Two sets, both built from the pt_text documents (Bosque news, Machado chapters, Porttinari, ...):

* ``today``: every document of at least 80 words is an original with three edited copies (words
  inserted from another document or deleted at 1-25%, the article wrapped in site boilerplate). A
  copy's true similarity is the exact Jaccard of its word 5-gram set with the original's; copies at
  >= 0.8 should be caught, copies <= 0.6 kept; the band between is reported, not scored. A kept
  original wrongly removed counts as a false positive too.
* ``edited``: lightly edited copies, the reposted news and spun posts dedup must catch: each
  100-300-word document gets one copy with 0.5-5% of its words inserted, deleted or substituted
  (recall). Beside them, distinct documents that share a template must all be kept: news items of
  one site inside the same header and footer, and forum posts (30-100 words) under one signature
  (precision counts each such document removed as a false positive).

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


HEADER = BOILERPLATE
SIGNATURE = (
    "\n--\nAbraços a todos, João Silva\nModerador do fórum Cozinha Brasileira desde 2009 | Regras do fórum"
    " | Mensagens privadas\nEnviado do meu celular"
)
LIGHT_EDITS = (0.005, 0.05)


def lightly_edited(text: str, vocabulary: list[str], rate: float, rng: random.Random) -> str:
    """The text with about ``rate`` of its words deleted, substituted or followed by an inserted word."""
    out = []
    for word in text.split():
        r = rng.random()
        if r < rate / 3:
            continue  # deletion
        out.append(rng.choice(vocabulary) if r < 2 * rate / 3 else word)  # substitution
        if r > 1 - rate / 3:
            out.append(rng.choice(vocabulary))  # insertion
    return " ".join(out)


def build_edited(seed: int = 0) -> tuple[list[Document], dict[str, str], set[str]]:
    """Originals, their light copies and template-sharing distinct documents; the copies' originals;
    and the ids of the template-sharing documents (none of which may be removed)."""
    rng = random.Random(seed)
    texts = originals(min_words=1)
    middle = [t for t in texts if 100 <= len(t.split()) <= 300]
    short = [t for t in texts if 30 <= len(t.split()) < 100]
    vocabulary = [w for t in texts for w in t.split()]
    docs: list[Document] = []

    def add(doc_id: str, text: str) -> None:
        docs.append(Document(text=text, id=doc_id, metadata={"input_file": "e", "input_line": len(docs)}))

    for i, text in enumerate(middle):
        add(f"m{i}", text)
    copies = {}
    for i, text in enumerate(middle):
        add(f"m{i}c", lightly_edited(text, vocabulary, rng.uniform(*LIGHT_EDITS), rng))
        copies[f"m{i}c"] = f"m{i}"
    template_ids = set()
    for i, text in enumerate(rng.sample(middle, min(len(middle), 400))):
        add(f"site{i}", HEADER + text + FOOTER)
        template_ids.add(f"site{i}")
    for i, text in enumerate(rng.sample(short, min(len(short), 400))):
        add(f"forum{i}", text + SIGNATURE)
        template_ids.add(f"forum{i}")
    return docs, copies, template_ids


def evaluate_edited(recipe_dedup, docs: list[Document], copies: dict[str, str], template_ids: set[str]) -> dict:
    """Recall on light copies; precision counting removed originals and template-sharing documents."""
    # The template-sharing documents are other texts than the originals: shared words with a copy's
    # original would be a real duplicate, so each group runs on its own.
    pairs = [d for d in docs if d.id not in template_ids]
    _, rejected = Deduplicator(recipe_dedup).dedupe(pairs)
    removed = {d.id: d.metadata["duplicate_of"] for d in rejected}
    tp = sum(1 for c, o in copies.items() if removed.get(c) == o)
    fp = sum(1 for d in rejected if d.id not in copies)
    _, merged = Deduplicator(recipe_dedup).dedupe([d for d in docs if d.id in template_ids])
    fp += len(merged)
    precision, recall = tp / max(tp + fp, 1), tp / max(len(copies), 1)
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "light_copies": len(copies),
        "template_sharing_docs": len(template_ids),
        "template_sharing_removed": len(merged),
    }


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
    edited = build_edited()
    print(
        json.dumps(
            {
                "bench": "dedup",
                "settings": {
                    "ngram": settings.ngram,
                    "bands": settings.bands,
                    "rows": settings.rows,
                    "min_similarity": settings.min_similarity,
                    "min_jaccard": settings.min_jaccard,
                },
                "today": {"originals": len(docs) - len(truth), "copies": len(truth), **evaluate(settings, docs, truth)},
                "edited": evaluate_edited(settings, *edited),
            }
        )
    )


if __name__ == "__main__":
    main()
