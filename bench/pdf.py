"""PDF extraction on ../shared/data/pdfs: words kept against the pypdf baseline, rejections, survivors.

For every PDF: what ``pipelines.sources.pdf.read_pdf`` made of it (words kept or the rejection
reason) next to the words in pypdf_baseline_text. On pdfs/pt it also counts edge lines that still
look like running headers or page numbers after cleanup (should be 0 apart from ToC entries, which
are counted separately because they legitimately end in page numbers). Prints one JSON line.

    .venv/bin/python -m bench.pdf
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pypdfium2

from pipelines.sources.pdf import (
    _PAGE_NUMBER,
    extract_pdf_text,
    remove_running_lines,
)
from pipelines.sources.readers import SourceSpec, is_rejection, read_source

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pdfs"
_WORD = re.compile(r"\w+")


def surviving_page_lines(path: Path) -> int:
    """Edge lines that are bare page numbers or repeat on >= 25 % and >= 5 pages after cleanup."""
    raw_pages, _ = extract_pdf_text(str(path))
    pages = remove_running_lines(
        [[line.strip() for line in p.split("\n") if line.strip()] for p in raw_pages]
    )
    again = remove_running_lines(pages)
    bare_numbers = sum(1 for lines in pages for line in lines[:2] + lines[-2:] if _PAGE_NUMBER.match(line))
    return bare_numbers + sum(len(a) - len(b) for a, b in zip(pages, again, strict=True))


def main() -> None:
    """Run the PDF reader over pt/ and other/ and print one JSON line."""
    if not DATA.is_dir():
        print(json.dumps({"skipped": f"{DATA} not found"}))
        return
    result: dict[str, object] = {
        "pypdfium2": str(pypdfium2.version.PYPDFIUM_INFO),
        "pdfium": str(pypdfium2.version.PDFIUM_INFO),
    }
    files: dict[str, dict[str, object]] = {}
    started = time.perf_counter()
    for folder in ("pt", "other"):
        for record in read_source(SourceSpec(str(DATA / folder), "pdf", folder)):
            name = Path(record["metadata"]["path"]).stem
            baseline = DATA / "pypdf_baseline_text" / f"{name}.txt"
            baseline_text = re.sub(r"\f=== page \d+ ===", " ", baseline.read_text(encoding="utf-8"))
            entry: dict[str, object] = {
                "pypdf_words": len(_WORD.findall(baseline_text)),
                "pages": int(record["metadata"].get("pages", 0)),
            }
            if is_rejection(record):
                entry["rejected"] = record["reason"]
            else:
                entry["words"] = len(_WORD.findall(record["text"]))
            files[f"{folder}/{name}"] = entry
    seconds = time.perf_counter() - started
    result["seconds"] = round(seconds, 2)
    result["pages"] = sum(int(v["pages"]) for v in files.values())
    result["pages_per_second"] = round(result["pages"] / seconds, 1)
    pt_kept = {k: v for k, v in files.items() if k.startswith("pt/") and "words" in v}
    result["pt_words_kept"] = sum(v["words"] for v in pt_kept.values())
    result["pt_pypdf_words_same_files"] = sum(v["pypdf_words"] for v in pt_kept.values())
    result["pt_surviving_header_or_page_number_lines"] = sum(
        surviving_page_lines(DATA / "pt" / f"{k.removeprefix('pt/')}.pdf") for k in pt_kept
    )
    result["rejected"] = {k: v["rejected"] for k, v in files.items() if "rejected" in v}
    result["files"] = files
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
