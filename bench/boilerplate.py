"""Boilerplate lines on text that arrives as JSONL: what the ``boilerplate`` stage removes and keeps.

Real Portuguese articles (pt_text: Bosque, Porttinari, ... of at least 30 words) are spread over
sites; every page of a site gets that site's own menu, footer and signature lines (which no pattern
knows) and Portuguese blog template lines ("Postado por", "Marcadores:", "Compartilhe", "Leia
também"). The JSONL goes through ``pipelines.curate.curate`` with the recipe's ``normalize`` and
``boilerplate`` stages, as ``garimpo curate`` runs them, and the curated texts are compared line by
line with what was planted. Prints one JSON line: planted lines left, article lines lost, the
stage's own counts and its speed.

    .venv/bin/python -m bench.boilerplate [--sites 8] [--pages 150]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.curate import curate
from pipelines.recipe import load_recipe

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pt_text"
AUTHORS = ("Rui Fernandes", "Ana Paula", "Carlos Mendes", "Joana Lima")


def articles(min_words: int = 30) -> list[str]:
    texts = []
    for path in sorted(DATA.glob("*_docs.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"]
            if len(text.split()) >= min_words:
                texts.append(text)
    return texts


def build(sites: int, pages: int, seed: int = 0) -> tuple[list[dict], set[str], set[str]]:
    """Rows, the planted lines (site and template) and the article lines."""
    rng = random.Random(seed)
    texts = articles()
    rng.shuffle(texts)
    rows, planted, article_lines = [], set(), set()
    for s in range(sites):
        site_lines = [
            f"Início | Notícias | Cidade {s} | Esportes | Contato",
            f"Jornal da Cidade {s} — fundado em {1950 + s}, rua das Flores {10 + s}",
            f"Fale com a redação do Jornal {s} pelo WhatsApp da redação",
        ]
        for p in range(pages):
            body = texts[(s * pages + p) % len(texts)]
            template = [
                f"Postado por {rng.choice(AUTHORS)} às {rng.randint(0, 23)}:{rng.randint(10, 59)}",
                f"Marcadores: cidade {s}, notícias, {rng.choice(('política', 'esporte', 'cultura'))}",
                "Compartilhe no Facebook",
            ]
            lines = [site_lines[0], template[0], body, template[1], site_lines[1], template[2], site_lines[2]]
            planted.update(site_lines + template)
            article_lines.add(body)
            rows.append({"id": f"s{s}p{p}", "text": "\n".join(lines), "source": "scrape",
                         "metadata": {"url": f"https://www.cidade{s}.com.br/noticia/{p}"}})  # fmt: skip
    return rows, planted, article_lines - planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=8)
    parser.add_argument("--pages", type=int, default=150)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(json.dumps({"bench": "boilerplate", "skipped": f"{DATA} not found"}))
        return
    rows, planted, article_lines = build(args.sites, args.pages)
    recipe = load_recipe()
    recipe = recipe.replace(stages=("normalize", "boilerplate"))
    with tempfile.TemporaryDirectory(prefix="bench-boilerplate-") as scratch:
        inputs = Path(scratch) / "scrape.jsonl"
        inputs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        started = time.perf_counter()
        stats = curate([inputs], Path(scratch) / "out", recipe)
        seconds = time.perf_counter() - started
        texts = [
            text
            for path in sorted((Path(scratch) / "out" / "documents").glob("*.parquet"))
            for text in pq.read_table(path, columns=["text"]).column("text").to_pylist()
        ]
    out_lines = {line.strip() for text in texts for line in text.split("\n") if line.strip()}
    normalized = {" ".join(line.split()) for line in out_lines}
    stage = next(s for s in stats["stages"] if s["stage"] == "boilerplate")
    megabytes = sum(len(r["text"].encode()) for r in rows) / 1e6
    print(json.dumps({
        "bench": "boilerplate",
        "pages": len(rows),
        "sites": args.sites,
        "planted_lines_per_page": 6,
        "planted_lines_left": sum(1 for line in planted if " ".join(line.split()) in normalized),
        "article_lines_lost": sum(1 for line in article_lines if " ".join(line.split()) not in normalized),
        "documents_rejected": stage["rejected"],
        "lines_removed": stage["lines_removed"],
        "stage_seconds": stage["seconds"],
        "stage_mb_per_s": round(megabytes / max(stage["seconds"], 1e-9), 2),
        "curate_seconds": round(seconds, 2),
    }, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
