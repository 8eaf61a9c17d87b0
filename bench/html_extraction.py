"""HTML main-content extraction scored with the Zyte article-extraction-benchmark metric.

Three extractors on the pages in ../shared/data/html/scrapinghub_aeb, in the same run:

- ``garimpo``: ``pipelines.sources.web.extract_page`` (trafilatura 2.x plus the template-line cleanup);
- ``trafilatura_plain``: trafilatura 2.x alone, as the benchmark runs it;
- ``garimpo_before``: the extractor garimpo shipped before the move to 2.x (trafilatura 1.11 plus the
  cleanup of commit ``BEFORE``), run in a subprocess because two trafilatura versions cannot share a
  process. It needs trafilatura 1.11 installed in a folder of its own and git history:

      .venv/bin/python -m pip install --no-deps --target /tmp/trafilatura-1.11 trafilatura==1.11.0
      .venv/bin/python -m bench.html_extraction --before /tmp/trafilatura-1.11

  Without ``--before`` that entry says why it was skipped.

Scores are overall and per language (lid.176's label of the gold text), with the benchmark's own
metric (evaluate.py): ``\\w+`` tokens, 4-token shingles with counts, tp/fp/fn normalised per page,
precision and recall averaged over pages, F1 of the two means. Prints one JSON line.

    .venv/bin/python -m bench.html_extraction
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import time
import types
from collections import Counter
from pathlib import Path

import trafilatura

from pipelines.sources.web import extract_page

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "html" / "scrapinghub_aeb"
BEFORE = "b038e24"  # the last commit whose extractor ran on trafilatura 1.11
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


def garimpo_text(html: bytes, url: str) -> str:
    """What garimpo's HTML reader keeps of a page."""
    page = extract_page(html, url)
    return page.text if page else ""


def plain_text(html: bytes, url: str) -> str:
    """Plain trafilatura, as the benchmark runs it."""
    return trafilatura.extract(html, url=url, include_comments=False, include_tables=True) or ""


def load_pages() -> list[tuple[str, dict, bytes]]:
    """``(page id, gold entry, html)`` for every page of the sample."""
    gold = json.loads((DATA / "ground_truth_sample.json").read_text(encoding="utf-8"))
    return [
        (page_id, entry, gzip.decompress((DATA / "html" / f"{page_id}.html.gz").read_bytes()))
        for page_id, entry in gold.items()
    ]


def languages(pages: list[tuple[str, dict, bytes]]) -> dict[str, str]:
    """lid.176's label of each page's gold text (the benchmark marks only pt-BR pages)."""
    import fasttext

    from pipelines.stages.langid import lid176_path

    model = fasttext.load_model(str(lid176_path()))
    labels = {}
    for page_id, entry, _ in pages:
        (label,), _ = model.predict(" ".join(entry["articleBody"].split())[:5000])
        labels[page_id] = label.removeprefix("__label__")
    return labels


def score_texts(pages, texts: dict[str, str], langs: dict[str, str]) -> dict[str, object]:
    """Scores overall and per language of one extractor's texts."""
    matched = {pid: shingle_matching(entry["articleBody"], texts[pid]) for pid, entry, _ in pages}
    result: dict[str, object] = {"all": scores(list(matched.values()))}
    for lang in sorted(set(langs.values())):
        result[lang] = scores([m for pid, m in matched.items() if langs[pid] == lang])
    return result


def _before_texts(site: str) -> dict[str, str] | str:
    """Texts of the extractor before trafilatura 2.x, from a subprocess; a reason string when not run."""
    if not (Path(site) / "trafilatura").is_dir():
        return f"no trafilatura in {site}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([site, str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "bench.html_extraction", "--before-worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"before-worker failed: {done.stderr.strip().splitlines()[-1:]}"
    return json.loads(done.stdout)


def _before_worker() -> None:
    """Run the extractor of commit BEFORE (its web.py from git) on trafilatura 1.11; print the texts."""
    if not trafilatura.__version__.startswith("1.11"):
        raise SystemExit(f"trafilatura {trafilatura.__version__} on the path, not 1.11")
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:pipelines/sources/web.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType("garimpo_before_web")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, f"{BEFORE}:pipelines/sources/web.py", "exec"), module.__dict__)
    texts = {}
    for page_id, entry, html in load_pages():
        page = module.extract_page(html, entry["url"])
        texts[page_id] = page.text if page else ""
    print(json.dumps(texts))


def main() -> None:
    """Score the extractors and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="folder holding trafilatura 1.11 (pip install --target)")
    parser.add_argument("--before-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(json.dumps({"bench": "html_extraction", "skipped": f"{DATA} not found"}))
        return
    if args.before_worker:
        _before_worker()
        return
    pages = load_pages()
    langs = languages(pages)
    result: dict[str, object] = {
        "bench": "html_extraction",
        "pages": len(pages),
        "pages_per_language": dict(sorted(Counter(langs.values()).items())),
        "trafilatura": trafilatura.__version__,
    }
    for name, extract in (("garimpo", garimpo_text), ("trafilatura_plain", plain_text)):
        started = time.perf_counter()
        texts = {pid: extract(html, entry["url"]) for pid, entry, html in pages}
        result[name] = {**score_texts(pages, texts, langs), "seconds": round(time.perf_counter() - started, 2)}
    before = _before_texts(args.before) if args.before else "not run: pass --before DIR (see the docstring)"
    result["garimpo_before"] = (
        {"skipped": before, "commit": BEFORE}
        if isinstance(before, str)
        else {**score_texts(pages, before, langs), "commit": BEFORE, "trafilatura": "1.11.0"}
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
