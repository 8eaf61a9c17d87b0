"""Instruction-data validation on the real sets in ../shared/data/instruct.

Runs `curate_instructions` over every file and checks it against the defects catalogued by hand in
that folder's SOURCES.md. Each catalogued class is found again here by a deliberately simple,
independent predicate (the "oracle", not the validator's regexes), so the figures say how many of
the documented defects the rules catch and how many rejects are not documented defects
(`false_positives`, with a sample to read). Prints one JSON line.

The recipe keeps pt and en because these sets are mostly English; the language rule still judges.

    .venv/bin/python -m bench.instruct
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from pipelines.instruct.curate import curate_instructions, load_instruct_recipe, record_id
from pipelines.instruct.readers import iter_records

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "instruct"

# class name -> (file, documented count or None when SOURCES.md gives none, oracle predicate)
DOCUMENTED = {
    "alpaca_placeholder_inputs": (
        "stanford_alpaca_sample2000.jsonl",
        21,
        lambda r: (
            0 < len(r["input"].strip()) <= 40
            and re.search(r"no\W*i?n?\W*put|ninput|^\W*(n/?a|none)\W*$", r["input"].strip(), re.I)
        ),
    ),
    "alpaca_no_input_output_tags": (
        "stanford_alpaca_sample2000.jsonl",
        9,
        lambda r: re.search(r"<\s*no\s*(input|output)\s*>", r["input"] + r["output"], re.I),
    ),
    "alpaca_url_inputs": (
        "stanford_alpaca_sample2000.jsonl",
        10,
        lambda r: re.search(r"https?://|www\.", r["input"]),
    ),
    "alpaca_empty_outputs": ("stanford_alpaca_sample2000.jsonl", 2, lambda r: not r["output"].strip()),
    "alpaca_merged_instructions": (
        "stanford_alpaca_sample2000.jsonl",
        2,
        lambda r: re.search(r"\d+\. Instruction:", r["output"]),
    ),
    "identity_template_placeholders": ("llamafactory_identity.json", None, lambda r: "{{" in r["output"]),
    "enem2022_needs_images": ("enem_2022_gpt4enem.json", 26, lambda r: r.get("has_associated_images")),
}


def build_report() -> dict:
    """Curate the shared instruct folder; the per-rule and per-defect-class figures as a dict."""
    files = sorted(p for p in DATA.iterdir() if p.suffix in (".json", ".jsonl"))
    recipe = load_instruct_recipe()
    recipe.languages = ["pt", "en"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        stats = curate_instructions(files, Path(tmp), recipe)
        rejects = {
            r["id"]: r
            for r in map(json.loads, (Path(tmp) / "rejects.jsonl").read_text(encoding="utf-8").splitlines())
        }
        kept_gsm8k_annotations = sum(
            "<<" in line and '"gsm8k' in line
            for line in (Path(tmp) / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
        )
    seconds = time.perf_counter() - started
    defects: dict[str, dict] = {}
    defect_ids: set[str] = set()
    for name, (file, documented, oracle) in DOCUMENTED.items():
        path = DATA / file
        ids = {record_id(r, path, n) for n, r in iter_records(path) if isinstance(r, dict) and oracle(r)}
        defect_ids |= ids
        caught = ids & rejects.keys()
        defects[name] = {
            "documented": documented,
            "found_by_oracle": len(ids),
            "caught": len(caught),
            "caught_by": dict(Counter(rejects[i]["reasons"][0] for i in caught)),
        }
    audited = {file for file, _, _ in DOCUMENTED.values()}
    undocumented = [r for i, r in rejects.items() if i not in defect_ids and r["source"] in audited]
    fp_rules = Counter(r["reasons"][0] for r in undocumented)
    report = {
        "bench": "instruct",
        "documents_in": stats["documents_in"],
        "documents_kept": stats["documents_kept"],
        "documents_rejected": stats["documents_rejected"],
        "reasons": stats["reasons"],
        "per_source_rejected": {k: v["rejected"] for k, v in stats["per_source"].items()},
        "defects": defects,
        "all_documented_caught": all(
            d["caught"] >= (d["documented"] or d["found_by_oracle"]) for d in defects.values()
        ),
        "false_positives": len(undocumented),
        "false_positives_without_duplicates": sum(n for rule, n in fp_rules.items() if rule != "duplicate"),
        "false_positives_by_rule": dict(fp_rules),
        "false_positive_sample": [
            {"id": r["id"], "reason": r["reasons"][0], "detail": r["details"][r["reasons"][0]][:90]}
            for r in undocumented
            if r["reasons"][0] != "duplicate"
        ][:12],
        "kept_gsm8k_with_calculator_annotations": kept_gsm8k_annotations,
        "seconds": round(seconds, 2),
    }
    return report


def main() -> None:
    """Print the report as one JSON line (or why it was skipped)."""
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"{DATA} not found"}))
        return
    print(json.dumps(build_report(), ensure_ascii=False))


if __name__ == "__main__":
    main()
