"""Does curation pay on real data? The `data-ablation` flow on a raw mixture built from ../shared/data.

The mixture is what a scrape looks like before garimpo: web pages as the whole page's text (menus,
footers and scripts included, no main-content extraction), PDFs as pypdf's plain extraction, stock
market tweets, Portuguese news and theses with a share of exact copies, and other languages (UDHR
in English, Spanish, Italian, French, Catalan, Galician; Galician treebank sentences). The raw
variant trains on it as read; the curated variant after the shipped recipe. Both are judged on clean
text that is in neither (Machado de Assis chapters and Bosque news documents; the flow refuses to run
when any of it occurs in a variant's data). Prints the mixture's composition and one JSON line.

    .venv/bin/python -m bench.ablation [--steps 640] [--seeds 0,1,2] [--config ablation] [--work /tmp/garimpo-ablation]

The budget rule: every variant trains on the same number of tokens (FineWeb's equal-compute
comparison), and the raw variant never reads its data twice. Curation keeps 44% of this mixture's
tokens, so at the default 640 steps the curated variant reads its train split about 1.9 times while
raw reads 0.84 of its own: repetition can only handicap the curated model (repeating data up to about
four epochs is nearly, never more, as good as fresh data: Muennighoff et al. 2023, "Scaling
Data-Constrained Language Models"), so a curated win under this rule is a conservative one. The JSON
line gives each variant's epochs (tokens per run / its train tokens), and ``budget_rule_held`` says
whether raw stayed under one epoch and curated under four.

The model is tiny (CPU minutes): the figures say which data gives the better model at this scale
and equal token budget, not how large the gap is for a real model (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EVAL = "max_tokens = {max_tokens}\ncloze = false\ncontamination = false\n"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _groups(texts: list[str], size: int, sep: str = " ") -> list[str]:
    return [sep.join(texts[i : i + size]) for i in range(0, len(texts), size)]


def _page_text(gz: bytes) -> str:
    """Every text node of a page but scripts and styles: menus, footers, cookie banners and all."""
    import lxml.html

    tree = lxml.html.fromstring(gzip.decompress(gz))
    for node in tree.xpath("//script|//style|//noscript"):
        node.drop_tree()
    return re.sub(r"\s*\n\s*", "\n", tree.text_content()).strip()


def mixture() -> dict[str, list[str]]:
    """The raw mixture by component (each a list of documents)."""
    pt = SHARED / "pt_text"
    news = [r["text"] for r in _jsonl(pt / "porttinari_devtest_docs.jsonl")]
    parts = {
        "news (Porttinari)": news,
        "theses (PetroGold)": [r["text"] for r in _jsonl(pt / "petrogold_devtest_docs.jsonl")],
        "blog/news sentences (GSD)": _groups(
            [r["text"] for r in _jsonl(pt / "gsd_sentences_sample3000.jsonl")], 10
        ),
        "exact copies of news": news[:300] * 2,
        "tweets (DANTEStocks)": [r["text"] for r in _jsonl(pt / "dantestocks_tweets_sample3000.jsonl")],
        "web pages, whole-page text": [
            _page_text(p.read_bytes())
            for p in sorted((SHARED / "html" / "scrapinghub_aeb" / "html").glob("*.html.gz"))
        ],
        "PDFs, plain extraction": [
            p.read_text(encoding="utf-8", errors="replace")
            for p in sorted((SHARED / "pdfs" / "pypdf_baseline_text").glob("*.txt"))
        ],
        "other languages (UDHR, Galician)": [
            *(
                text
                for lang in ("eng", "spa", "ita", "fra", "cat", "glg")
                for text in _groups(
                    [r["text"] for r in _jsonl(SHARED / "langid" / "udhr" / f"{lang}.jsonl")], 8, "\n"
                )
            ),
            *_groups(
                [r["text"] for r in _jsonl(SHARED / "langid" / "galician_ud" / "gl_ctg_test_all861.jsonl")],
                10,
            ),
        ],
    }
    return {k: [t for t in v if t.strip()] for k, v in parts.items()}


def heldout(work: Path) -> dict[str, str]:
    """Machado chapters (hard wraps joined) and Bosque documents, as JSONL files for the flow."""
    machado = [
        re.sub(r"(?<!\n)\n(?!\n)", " ", r["text_hardwrapped"]).strip()
        for r in _jsonl(SHARED / "pt_text" / "literature" / "machado_chapters.jsonl")
    ]
    bosque = [r["text"] for r in _jsonl(SHARED / "pt_text" / "bosque_docs.jsonl")]
    out = {}
    for name, texts in (("machado", machado[1:]), ("bosque", bosque)):  # chapter 0 is front matter
        path = work / f"heldout-{name}.jsonl"
        path.write_text(
            "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts if t), encoding="utf-8"
        )
        out[name] = str(path)
    return out


def data_epochs(artifacts: Path, shards: dict[str, str], tokens_per_run: int) -> dict[str, dict]:
    """Per variant, its train-split tokens and how many times a run of ``tokens_per_run`` reads them."""
    from garimpo.core.store import ArtifactStore

    store = ArtifactStore(artifacts)
    out = {}
    for variant, ref in shards.items():
        train = store.load_ref(ref).stats["train"]["tokens"]
        out[variant] = {"train_tokens": train, "epochs": tokens_per_run / train if train else float("inf")}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=640, help="640 x 1024 tokens: under the raw train split")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--config", default="ablation", help="training config: a shipped name or a TOML path")
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--max-tokens", type=int, default=60000, help="held-out tokens per set and run")
    p.add_argument("--work", default=None, help="work folder (default: a new temporary one)")
    args = p.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is absent: the bench needs the real data beside the checkout")
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="garimpo-bench-prefect-"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows import AblationParams, data_ablation
    from garimpo.cli.common import quiet_datatrove

    quiet_datatrove()
    work = Path(args.work or tempfile.mkdtemp(prefix="garimpo-ablation-"))
    work.mkdir(parents=True, exist_ok=True)
    parts = mixture()
    with (work / "mixture.jsonl").open("w", encoding="utf-8") as f:
        for component, texts in parts.items():
            for i, text in enumerate(texts):
                f.write(
                    json.dumps({"id": f"{component}/{i}", "text": text, "source": "raw"}, ensure_ascii=False)
                    + "\n"
                )
    composition = {
        k: {"documents": len(v), "bytes": sum(len(t.encode()) for t in v)} for k, v in parts.items()
    }
    total = sum(c["bytes"] for c in composition.values())
    for k, c in composition.items():
        print(f"{k:36s} {c['documents']:6d} docs {c['bytes'] / 1e6:7.3f} MB {100 * c['bytes'] / total:5.1f}%")
    (work / "eval.toml").write_text(EVAL.format(max_tokens=args.max_tokens))
    started = time.perf_counter()
    out = data_ablation(
        AblationParams(
            inputs=[str(work / "mixture.jsonl")],
            heldout=heldout(work),
            config=args.config,  # default garimpo/configs/train/ablation.toml: tiny, 64-token windows, batch 16
            max_steps=args.steps,
            eval_config=str(work / "eval.toml"),
            seeds=[int(s) for s in args.seeds.split(",")],
            vocab_size=args.vocab_size,
            artifacts=str(work / "artifacts"),
        )
    )
    rows = {r["variant"]: r for r in out["summary"]}
    raw, cur = rows["raw"], rows["curated"]
    epochs = data_epochs(work / "artifacts", out["shards"], raw["tokens_seen"][0])
    spread = max(raw["bpb_spread"], cur["bpb_spread"])
    print(
        json.dumps(
            {
                "composition": composition,
                "documents_kept": {v: c["documents_kept"] for v, c in out["corpora"].items()},
                "heldout": {k: v["documents"] for k, v in out["heldout"].items()},
                "steps": args.steps,
                "tokens_per_run": raw["tokens_seen"][0],
                "train_tokens": {v: e["train_tokens"] for v, e in epochs.items()},
                "epochs": {v: round(e["epochs"], 2) for v, e in epochs.items()},
                "budget_rule_held": epochs["raw"]["epochs"] <= 1 and all(e["epochs"] <= 4 for e in epochs.values()),
                "seeds": raw["seeds"],
                "raw_bpb": round(raw["bpb_mean"], 4),
                "curated_bpb": round(cur["bpb_mean"], 4),
                "raw_spread": round(raw["bpb_spread"], 4),
                "curated_spread": round(cur["bpb_spread"], 4),
                "gap": round(cur["gap_vs_raw"], 4),
                "gap_over_2x_spread": round(cur["gap_vs_raw"] / (2 * spread), 2) if spread else None,
                "curated_wins_every_seed": cur["wins_every_seed"],
                "per_seed": {"raw": raw["per_seed"], "curated": cur["per_seed"]},
                "per_set": {
                    k: round(v, 4)
                    for k, v in cur.items()
                    if k.startswith("bpb_") and k not in ("bpb_mean", "bpb_spread")
                },
                "per_set_raw": {
                    k: round(v, 4)
                    for k, v in raw.items()
                    if k.startswith("bpb_") and k not in ("bpb_mean", "bpb_spread")
                },
                "report": out["report"],
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
