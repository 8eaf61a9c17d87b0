"""An ablation's report: per data variant, held-out bits per byte over seeds, as a table, JSON and PNG.

Each run is one (variant, seed) with the same model, tokenizer and token budget; its eval result
gives bits per byte on every held-out set. A variant's score is the byte-weighted bits per byte over
all held-out sets, its ``mean`` over seeds and its ``spread`` (max - min over seeds, which for two
or three seeds is wider than the standard deviation, so a gap judged against it is judged strictly).
``gap_vs_raw`` is the raw variant's mean minus this variant's: positive means the variant's data
gives a better model of clean held-out text. ``wins_every_seed`` compares seed by seed.

The PNG (matplotlib, from the ``eval`` extra; left out with a note when it is not installed) shows
each variant's mean with its spread as an error bar and every seed as a dot.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from garimpo.core.fs import atomic_path, write_text_atomic

log = logging.getLogger(__name__)
REPORT_JSON, REPORT_PNG = "report.json", "report.png"


def pooled_bpb(result: dict[str, Any], names: list[str]) -> float | None:
    """Byte-weighted bits per byte of one eval result over the held-out sets ``names``."""
    parts = [result["bpb"][n] for n in names if result["bpb"].get(n, {}).get("bpb") is not None]
    nbytes = sum(p["bytes"] for p in parts)
    return sum(p["bpb"] * p["bytes"] for p in parts) / nbytes if nbytes else None


def summarize(runs: list[dict[str, Any]], heldout: list[str], baseline: str = "raw") -> list[dict[str, Any]]:
    """One row per variant from ``runs`` (each ``{"variant", "seed", "result", "tokens_seen"}``)."""
    by_variant: dict[str, dict[int, float]] = {}
    tokens: dict[str, set[int]] = {}
    for run in runs:
        value = pooled_bpb(run["result"], heldout)
        if value is None:
            raise ValueError(f"run {run['variant']} seed {run['seed']} has no held-out bits per byte")
        by_variant.setdefault(run["variant"], {})[run["seed"]] = value
        tokens.setdefault(run["variant"], set()).add(run["tokens_seen"])
    base = by_variant.get(baseline, {})
    rows = []
    for variant, seeds in by_variant.items():
        values = list(seeds.values())
        mean = sum(values) / len(values)
        row = {
            "variant": variant,
            "bpb_mean": mean,
            "bpb_spread": max(values) - min(values),
            "seeds": len(values),
            "tokens_seen": sorted(tokens[variant]),
        }
        for name in heldout:
            per = [r["result"]["bpb"][name]["bpb"] for r in runs if r["variant"] == variant]
            row[f"bpb_{name}"] = sum(per) / len(per)
        if base and variant != baseline:
            row["gap_vs_raw"] = sum(base.values()) / len(base) - mean
            row["wins_every_seed"] = all(seeds[s] < base[s] for s in seeds if s in base)
        row["per_seed"] = {str(s): v for s, v in sorted(seeds.items())}
        rows.append(row)
    return rows


def write_report(folder: Path, summary: list[dict[str, Any]], detail: dict[str, Any]) -> list[Path]:
    """``report.json`` (summary and every run's result) and, with matplotlib, ``report.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / REPORT_JSON]
    write_text_atomic(out[0], json.dumps({"summary": summary, **detail}, indent=1, ensure_ascii=False) + "\n")
    try:
        out.append(plot(summary, folder / REPORT_PNG))
    except ImportError:
        log.warning("no %s: matplotlib is not installed (pip install garimpo[eval])", REPORT_PNG)
    return out


def plot(summary: list[dict[str, Any]], path: Path) -> Path:
    """Mean held-out bits per byte per variant, spread as error bars, each seed as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 * len(summary) + 2, 3.5), dpi=100)
    names = [row["variant"] for row in summary]
    means = [row["bpb_mean"] for row in summary]
    half = [row["bpb_spread"] / 2 for row in summary]
    ax.bar(names, means, yerr=half, capsize=6, color="#9ecae1", edgecolor="#3182bd")
    for i, row in enumerate(summary):
        values = list(row["per_seed"].values())
        ax.scatter([i] * len(values), values, color="#d62728", zorder=3, s=14)
    low = min(min(row["per_seed"].values()) for row in summary)
    high = max(max(row["per_seed"].values()) for row in summary)
    ax.set_ylim(low - 0.1 * (high - low + 1e-3) - 0.05, high + 0.1 * (high - low + 1e-3) + 0.05)
    ax.set_ylabel("held-out bits per byte (lower is better)")
    ax.set_title("data ablation: same model, tokenizer and token budget")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
