"""The instruction rules on the real sets in ../shared/data/instruct (SOURCES.md lists the defects).

Uses the benchmark's report so the documented-defect oracles live in one place (bench/instruct.py).
The false-positive ceiling is what was measured when the rules were tuned (25 non-duplicate rejects
outside the documented classes, nearly all genuine defects: U+FFFD-damaged or option-less ENEM
questions, Chinese identity prompts, Alpaca prompts pointing at unseen content), plus headroom.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "instruct"

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def report() -> dict:
    if not (DATA / "SOURCES.md").is_file():
        pytest.skip(f"shared instruct data not found at {DATA}")
    spec = importlib.util.spec_from_file_location("bench_instruct", ROOT / "bench" / "instruct.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.build_report()


@pytest.mark.parametrize(
    ("defect", "documented"),
    [
        ("alpaca_placeholder_inputs", 21),
        ("alpaca_no_input_output_tags", 9),
        ("alpaca_url_inputs", 10),
        ("alpaca_empty_outputs", 2),
        ("alpaca_merged_instructions", 2),
        ("enem2022_needs_images", 26),
    ],
)
def test_documented_defects_are_caught(report, defect, documented):
    assert report["defects"][defect]["documented"] == documented
    assert report["defects"][defect]["caught"] >= documented


def test_unrendered_identity_templates_are_all_caught(report):
    found = report["defects"]["identity_template_placeholders"]
    assert found["found_by_oracle"] > 0 and found["caught"] == found["found_by_oracle"]


def test_false_positives_stay_under_the_measured_ceiling(report):
    assert report["false_positives_without_duplicates"] <= 30


def test_nothing_lost_and_gsm8k_clean(report):
    assert report["documents_in"] == report["documents_kept"] + report["documents_rejected"]
    assert report["documents_in"] == 2000 + 1319 + 1000 + 999 + 91 + 179 + 180
    assert report["per_source_rejected"]["gsm8k_test_full.jsonl"] == 0
    assert report["kept_gsm8k_with_calculator_annotations"] == 0
