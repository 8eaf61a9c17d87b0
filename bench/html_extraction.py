"""HTML main-content extraction scored with the Zyte article-extraction-benchmark metric.

Scores ``pipelines.sources.web.extract_page`` (trafilatura plus blog cleanup) and plain trafilatura
on the pages in ../shared/data/html/scrapinghub_aeb, overall and on the pt-BR pages, with the
benchmark's own metric (evaluate.py): ``\\w+`` tokens, 4-token shingles with counts, tp/fp/fn
normalised per page, precision and recall averaged over pages, F1 of the two means.
Prints one JSON line.

    .venv/bin/python -m bench.html_extraction
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import time
from collections import Counter
from pathlib import Path

import trafilatura

from pipelines.sources.web import extract_page

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "html" / "scrapinghub_aeb"
_TOKEN = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)


def _shingles(text: str, n: int = 4) -> Counter:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


def shingle_matching(true: str, pred: str) -> tuple[float, float, float]:
    """Per-page tp/fp/fn over 4-token shingles, normalised to sum to 1 (evaluate.py)."""
    true_counts, pred_counts = _shingles(true), _shingles(pred)
    tp = fp = fn = 0.0
    for key in set(true_counts) | set(pred_counts):
        t, p = true_counts.get(key, 0), pred_counts.get(key, 0)
        tp += min(t, p)
        fp += max(0, p - t)
        fn += max(0, t - p)
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total > 0 else (tp, fp, fn)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def scores(tp_fp_fns: list[tuple[float, float, float]]) -> dict[str, float]:
    """Macro precision and recall over pages, and F1 of the two means (evaluate.py)."""
    precision = statistics.mean(_precision(*x) for x in tp_fp_fns if x[0] + x[1] > 0)
    recall = statistics.mean(_recall(*x) for x in tp_fp_fns if x[0] + x[2] > 0)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4)}


def _garimpo(html: bytes, url: str) -> str:
    page = extract_page(html, url)
    return page.text if page else ""


def _trafilatura(html: bytes, url: str) -> str:
    return trafilatura.extract(html, url=url, include_comments=False, include_tables=True) or ""


def main() -> None:
    """Score both extractors and print one JSON line."""
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"{DATA} not found"}))
        return
    gold = json.loads((DATA / "ground_truth_sample.json").read_text(encoding="utf-8"))
    result: dict[str, object] = {"pages": len(gold), "pt_pages": 0, "trafilatura": trafilatura.__version__}
    for name, extract in (("garimpo", _garimpo), ("trafilatura_plain", _trafilatura)):
        everything, portuguese = [], []
        started = time.perf_counter()
        for page_id, entry in gold.items():
            html = gzip.decompress((DATA / "html" / f"{page_id}.html.gz").read_bytes())
            matched = shingle_matching(entry["articleBody"], extract(html, entry["url"]))
            everything.append(matched)
            if str(entry.get("_pt")) == "True":
                portuguese.append(matched)
        result[name] = {
            "all": scores(everything),
            "pt": scores(portuguese),
            "seconds": round(time.perf_counter() - started, 2),
        }
        result["pt_pages"] = len(portuguese)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
