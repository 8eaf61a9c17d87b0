"""A deterministic corpus of hostile inputs, each bad item next to good items of the same format.

Why: garimpo promises that bad input becomes a rejection with a readable reason, never a crash, and
that the good documents beside it survive. Real dumps break in a known set of ways (mis-encoded
bytes, NUL bytes, a 50 MB line, truncated archives, rows of the wrong shape, binaries named ``.txt``,
encrypted or image-only PDFs, pages without a body or nested past any parser's depth, damaged WARC
records, literal control tokens in instruction data). This module writes one of each, by hand from
bytes so nothing depends on a download, plus an expected-outcome table that the reliability tests
check item by item.

The good texts are clean pages of the sample corpus (``pipelines.sample_corpus``), which pass the
Portuguese curation recipe; each good item uses its own page, so dedup never pairs them.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import os
import random
import struct
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import zstandard

from pipelines.sample_corpus import write_sample_corpus

EXPECTED_FILE = "expected.json"
SOURCE_PREFIX = "source: "  # how a reader's rejection reason shows in the corpus's read stage
CONTROL_TOKEN = "<|endoftext|>"


@dataclass(frozen=True)
class Expected:
    """What must become of one input item.

    ``id`` is the record id the readers give it; ``outcome`` is ``kept``, ``rejected`` or
    ``repaired`` (kept after a recorded fix); ``stage`` says where the decision is made: ``source``
    (a format reader, ``pipelines.sources``), a curation stage name, or ``instruct``; ``reason`` is
    the rejection reason (or the repair's name) that stage records.
    """

    id: str
    outcome: str
    stage: str
    reason: str
    what: str


class _Corpus:
    """Collects files, source declarations and the expected table while the items are written."""

    def __init__(self, out_dir: Path, seed: int) -> None:
        self.out = out_dir
        self.rng = random.Random(seed)
        self.sources: list[dict[str, Any]] = []
        self.instruct: list[str] = []
        self.expected: list[Expected] = []
        self.skipped: list[str] = []

    def file(self, rel: str, data: bytes) -> Path:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def source(self, folder: str, fmt: str, **options: Any) -> str:
        """Declare ``out/<folder>`` as one source; returns the source name used in ids."""
        name = f"hostile-{folder}"
        self.sources.append(
            {"path": str(self.out / folder), "format": fmt, "name": name, "license": "CC0-1.0", **options}
        )
        return name

    def expect(self, doc_id: str, outcome: str, stage: str, reason: str, what: str) -> None:
        self.expected.append(Expected(doc_id, outcome, stage, reason, what))

    def garbage(self, size: int) -> bytes:
        return bytes(self.rng.getrandbits(8) for _ in range(size))


def _good_texts(seed: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Clean sample-corpus pages (no planted defect) and clean instruction records."""
    with tempfile.TemporaryDirectory(prefix="garimpo-hostile-") as tmp:
        info = write_sample_corpus(Path(tmp), seed=seed, n_docs=120)
        flawed = {i for ids in info["ids"].values() for pair in ids for i in _flat(pair)}
        pages = []
        for line in (Path(tmp) / "web.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record["id"] not in flawed and record["text"].strip():
                pages.append(record["text"])
        flawed_instruct = {i for ids in info["instruct_ids"].values() for i in ids}
        instruct = [
            json.loads(line)
            for line in (Path(tmp) / "instruct.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        instruct = [r for r in instruct if r["id"] not in flawed_instruct]
    return pages, instruct


def _flat(item: Any) -> list[str]:
    return list(item) if isinstance(item, list) else [item]


def _jsonl(*records: Any) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records)


def _truncated(data: bytes, fraction: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * fraction))]


def _jsonl_items(c: _Corpus, pages: list[str], big_line_bytes: int) -> None:
    name = c.source("jsonl", "jsonl")
    good = [pages.pop() for _ in range(3)]
    nul_text = good[2][:40] + "\x00\x00" + good[2][40:]
    lines = [
        json.dumps({"id": "good-1", "text": good[0]}, ensure_ascii=False).encode(),
        b'{"id": "latin1", "text": "S\xe3o Paulo \xe9 a maior cidade do pa\xeds."}',
        b'{"id": "raw-nul", "text": "texto com \x00 byte nulo cru"}',
        b'{"id": "cut", "text": "uma linha que acaba no meio',
        b'{"id": "number", "text": 42}',
        b'{"id": "no-text", "body": "o texto est\xc3\xa1 no campo errado"}',
        b'["array", "em vez de", "objeto"]',
        b'{"id": "blank", "text": "   "}',
        b'{"id": "surrogate", "text": "meia \\ud800 surrogate sem par"}',
        b'{"id": "only-nul", "text": "\\u0000\\u0000\\u0000"}',
        json.dumps({"id": "good-2", "text": good[1]}, ensure_ascii=False).encode(),
        json.dumps({"id": "good-nul", "text": nul_text}).encode(),
    ]
    c.file("jsonl/mixed.jsonl", b"\n".join(lines) + b"\n")
    rid = f"{name}/mixed.jsonl"
    c.expect(f"{rid}#good-1", "kept", "source", "", "good JSONL line")
    c.expect(f"{rid}#2", "rejected", "source", "invalid UTF-8", "Latin-1 bytes in a UTF-8 file")
    c.expect(f"{rid}#3", "rejected", "source", "malformed JSON", "raw NUL byte inside a JSON string")
    c.expect(f"{rid}#4", "rejected", "source", "malformed JSON", "line cut in the middle of a string")
    c.expect(f"{rid}#5", "rejected", "source", "malformed row", "text is a number")
    c.expect(f"{rid}#6", "rejected", "source", "malformed row", "no text field")
    c.expect(f"{rid}#7", "rejected", "source", "malformed row", "array instead of object")
    c.expect(f"{rid}#blank", "rejected", "source", "empty document", "text is only spaces")
    c.expect(f"{rid}#surrogate", "rejected", "source", "invalid Unicode", "unpaired UTF-16 surrogate")
    c.expect(f"{rid}#only-nul", "rejected", "normalize", "empty_text", "text is only NUL characters")
    c.expect(f"{rid}#good-2", "kept", "source", "", "good JSONL line")
    c.expect(f"{rid}#good-nul", "kept", "source", "", "good text with NUL characters inside")

    huge = c.source("huge", "jsonl", max_bytes=big_line_bytes // 2)
    (c.out / "huge").mkdir(parents=True, exist_ok=True)
    with (c.out / "huge" / "huge.jsonl").open("wb") as f:
        f.write(json.dumps({"id": "before", "text": pages.pop()}, ensure_ascii=False).encode() + b"\n")
        f.write(b'{"id": "huge", "text": "')
        block = b"garimpo " * (1 << 17)  # 1 MiB, written in blocks so the line is never held whole
        for start in range(0, big_line_bytes, len(block)):
            f.write(block[: big_line_bytes - start])
        f.write(b'"}\n')
        f.write(json.dumps({"id": "after", "text": pages.pop()}, ensure_ascii=False).encode() + b"\n")
    rid = f"{huge}/huge.jsonl"
    c.expect(f"{rid}#before", "kept", "source", "", "good line before a huge one")
    c.expect(f"{rid}#2", "rejected", "source", "line too long", f"one {big_line_bytes}-byte line")
    c.expect(f"{rid}#after", "kept", "source", "", "good line after a huge one")

    packed = c.source("packed", "jsonl")
    good_packed = _jsonl({"id": "gz-good", "text": pages.pop()})
    c.file("packed/good.jsonl.gz", gzip.compress(good_packed, mtime=0))
    c.expect(f"{packed}/good.jsonl.gz#gz-good", "kept", "source", "", "good gzip JSONL")
    body = _jsonl(*({"id": f"t{i}", "text": f"linha {i} " * 40} for i in range(400)))
    compressors = {
        "gz": lambda b: gzip.compress(b, mtime=0),
        "bz2": bz2.compress,
        "zst": zstandard.ZstdCompressor(level=3).compress,
    }
    for suffix, compress in compressors.items():
        c.file(f"packed/truncated.jsonl.{suffix}", _truncated(compress(body), 0.3))
        c.expect(
            f"{packed}/truncated.jsonl.{suffix}#rest",
            "rejected",
            "source",
            "truncated or corrupt file",
            f"{suffix} archive cut at 30 %",
        )
    bom = _jsonl({"id": "bom-1", "text": pages.pop()}, {"id": "bom-2", "text": pages.pop()})
    c.file("packed/bom.jsonl", b"\xef\xbb\xbf" + bom)
    c.expect(f"{packed}/bom.jsonl#bom-1", "kept", "source", "", "first line after a UTF-8 BOM")
    c.expect(f"{packed}/bom.jsonl#bom-2", "kept", "source", "", "second line of a file with a BOM")
    c.file("packed/empty.jsonl", b"")
    c.expect(f"{packed}/empty.jsonl", "rejected", "source", "empty file", "zero-byte JSONL")


def _text_items(c: _Corpus, pages: list[str]) -> None:
    name = c.source("text", "text")
    c.file("text/good.txt", pages.pop().encode())
    c.file("text/good.txt.bz2", bz2.compress(pages.pop().encode()))
    c.file("text/latin1.txt", pages.pop().encode("latin-1", errors="replace"))
    c.file("text/image.txt", _png(c))
    c.file("text/random.txt", c.garbage(4096))
    c.file("text/empty.txt", b"")
    c.file("text/nul.txt", b"\x00" * 4096)
    c.file("text/truncated.txt.gz", _truncated(gzip.compress(pages.pop().encode() * 20, mtime=0)))
    c.file(os.fsdecode(b"text/not\xe9-utf8-name.txt"), pages.pop().encode())
    c.expect(f"{name}/good.txt", "kept", "source", "", "good text file")
    c.expect(
        f"{name}/not\\xe9-utf8-name.txt", "kept", "source", "", "good text, Latin-1 byte in its file name"
    )
    c.expect(f"{name}/good.txt.bz2", "kept", "source", "", "good bz2 text file")
    c.expect(f"{name}/latin1.txt", "rejected", "source", "invalid UTF-8", "Latin-1 text file")
    c.expect(f"{name}/image.txt", "rejected", "source", "invalid UTF-8", "PNG image named .txt")
    c.expect(f"{name}/random.txt", "rejected", "source", "invalid UTF-8", "random bytes named .txt")
    c.expect(f"{name}/empty.txt", "rejected", "source", "empty document", "zero-byte text file")
    c.expect(f"{name}/nul.txt", "rejected", "normalize", "empty_text", "4096 NUL bytes named .txt")
    c.expect(
        f"{name}/truncated.txt.gz", "rejected", "source", "truncated or corrupt file", "gzip cut at half"
    )


def _png(c: _Corpus) -> bytes:
    """A valid 16x16 grayscale PNG (its signature starts with byte 0x89, never UTF-8)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + c.garbage(16) for _ in range(16))
    header = struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _html_page(title: str, text: str) -> str:
    paragraphs = "".join(f"<p>{p}</p>\n" for p in text.split("\n\n")[1:])
    return (
        f"<!DOCTYPE html><html lang='pt-BR'><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><nav><a href='/'>Início</a></nav><article><h1>{title}</h1>\n{paragraphs}</article>"
        "<footer>Contato</footer></body></html>"
    )


def _html_items(c: _Corpus, pages: list[str]) -> None:
    name = c.source("html", "html")
    text = pages.pop()
    c.file("html/good.html", _html_page(text.split("\n")[0], text).encode())
    c.file("html/no-body.html", b"<!DOCTYPE html><html><head><title>Sem corpo</title></head></html>")
    c.file("html/empty.html", b"")
    depth = 100_000
    nested = "<html><body>" + "<div>" * depth + "fundo do poço" + "</div>" * depth + "</body></html>"
    c.file("html/nested.html", nested.encode())
    c.file("html/binary.html", c.garbage(2048))
    c.file("html/corrupt.html.zst", b"\x28\xb5\x2f\xfd" + c.garbage(256))
    c.expect(f"{name}/good.html", "kept", "source", "", "good article page")
    c.expect(f"{name}/no-body.html", "rejected", "source", "no main content", "HTML without a body")
    c.expect(f"{name}/empty.html", "rejected", "source", "no main content", "zero-byte HTML file")
    c.expect(f"{name}/nested.html", "rejected", "source", "no main content", f"{depth} nested divs")
    c.expect(f"{name}/binary.html", "rejected", "source", "no main content", "random bytes named .html")
    c.expect(
        f"{name}/corrupt.html.zst", "rejected", "source", "truncated or corrupt file", "zstd magic then noise"
    )


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF file from its objects (object 1 is the catalog), with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _stream(data: bytes, header: str = "") -> bytes:
    return f"<< /Length {len(data)} {header}>>\nstream\n".encode() + data + b"\nendstream"


def _pdf_page(content: bytes, resources: str) -> bytes:
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources {resources} "
            "/Contents 4 0 R >>".encode(),
            _stream(content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
            _stream(
                b"\x00\x80\xff\x40",
                "/Type /XObject /Subtype /Image /Width 2 /Height 2 "
                "/ColorSpace /DeviceGray /BitsPerComponent 8 ",
            ),
        ]
    )


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer holds ``text``, one sentence per line (Helvetica, WinAnsi)."""
    sentences = [s.strip() + "." for p in text.split("\n") for s in p.split(". ") if s.strip(" .")]
    lines = b" T*\n".join(
        b"("
        + s.encode("cp1252", errors="replace")
        .replace(b"\\", b"\\\\")
        .replace(b"(", b"\\(")
        .replace(b")", b"\\)")
        + b") Tj"
        for s in sentences
    )
    content = b"BT /F1 8 Tf 11 TL 40 760 Td\n" + lines + b"\nET"
    return _pdf_page(content, "<< /Font << /F1 5 0 R >> >>")


def _pdf_items(c: _Corpus, pages: list[str]) -> None:
    name = c.source("pdf", "pdf")
    good = text_pdf(pages.pop())
    c.file("pdf/good.pdf", good)
    c.file(
        "pdf/image-only.pdf",
        _pdf_page(b"q 200 0 0 200 100 500 cm /Im1 Do Q", "<< /XObject << /Im1 6 0 R >> >>"),
    )
    c.file("pdf/corrupt.pdf", b"%PDF-1.4\n" + c.garbage(4096))
    c.file("pdf/html-named.pdf", _html_page("Página", pages.pop()).encode())
    c.file("pdf/empty.pdf", b"")
    c.expect(f"{name}/good.pdf", "kept", "source", "", "good one-page PDF")
    c.expect(f"{name}/image-only.pdf", "rejected", "source", "no text layer", "PDF with only an image")
    c.expect(f"{name}/corrupt.pdf", "rejected", "source", "corrupt PDF", "PDF header then random bytes")
    c.expect(f"{name}/html-named.pdf", "rejected", "source", "corrupt PDF", "HTML page named .pdf")
    c.expect(f"{name}/empty.pdf", "rejected", "source", "empty file", "zero-byte PDF")
    try:
        import pypdf
    except ImportError:
        c.skipped.append("pdf/encrypted.pdf: pypdf is not installed")
        return
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(text_pdf(pages.pop()))))
    # pypdf draws the file identifiers at random (they only need to be unique); RC4 keys derive from
    # the first, so both are pinned for the same bytes on every run.
    pinned = pypdf.generic.ByteStringObject(hashlib.md5(b"garimpo").digest())
    writer._ID = pypdf.generic.ArrayObject([pinned, pinned])
    writer.encrypt(user_password="segredo", owner_password="dono", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    drawn = bytes(writer._ID[1]).hex().encode()
    c.file("pdf/encrypted.pdf", buffer.getvalue().replace(drawn, bytes(pinned).hex().encode()))
    c.expect(f"{name}/encrypted.pdf", "rejected", "source", "encrypted PDF", "password-protected PDF")


def _warc_record(record_id: str, url: str, content_type: str, body: bytes) -> bytes:
    http = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: {record_id}\r\n"
        f"WARC-Date: 2024-05-01T12:00:00Z\r\nWARC-Target-URI: {url}\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
    )
    return head.encode() + http + b"\r\n\r\n"


def _warc_items(c: _Corpus, pages: list[str]) -> None:
    name = c.source("warc", "warc")

    def page(n: int) -> tuple[str, bytes]:
        record_id = f"<urn:uuid:{hashlib.sha256(f'{c.rng.random()}'.encode()).hexdigest()[:32]}>"
        text = pages.pop()
        body = _html_page(text.split("\n")[0], text).encode()
        return record_id, _warc_record(
            record_id, f"http://exemplo.com.br/{n}", "text/html; charset=utf-8", body
        )

    (good, good_bytes), (_, lost_bytes) = page(1), page(2)
    image = f"<urn:uuid:{'0' * 31}1>"
    image_bytes = _warc_record(image, "http://exemplo.com.br/logo.png", "image/png", _png(c))
    garbage = b"ISTO NAO E UM REGISTRO WARC\r\n" + c.garbage(512)
    c.file("warc/crawl.warc", good_bytes + image_bytes + garbage + lost_bytes)
    c.expect(f"{name}/crawl.warc#{good}", "kept", "source", "", "good HTML response")
    c.expect(f"{name}/crawl.warc#{image}", "rejected", "source", "not HTML", "image response")
    c.expect(
        f"{name}/crawl.warc#rest",
        "rejected",
        "source",
        "truncated or corrupt file",
        "garbage between records",
    )

    (good, good_bytes), (cut, cut_bytes) = page(3), page(4)
    c.file(
        "warc/cut.warc.gz",
        _truncated(gzip.compress(good_bytes, mtime=0) + gzip.compress(cut_bytes, mtime=0), 0.8),
    )
    c.expect(f"{name}/cut.warc.gz#{good}", "kept", "source", "", "good response before the cut")
    c.expect(
        f"{name}/cut.warc.gz#{cut}",
        "rejected",
        "source",
        "truncated or corrupt file",
        "gzip WARC cut at 80 %",
    )

    (good, good_bytes), (cut, cut_bytes) = page(5), page(6)
    c.file("warc/cut.warc", good_bytes + _truncated(cut_bytes, 0.7))
    c.expect(f"{name}/cut.warc#{good}", "kept", "source", "", "good response before the cut")
    c.expect(
        f"{name}/cut.warc#{cut}", "rejected", "source", "truncated or corrupt file", "response cut at 70 %"
    )


def _instruct_items(c: _Corpus, records: list[dict[str, Any]]) -> None:
    good = records[:4]
    token = dict(records[4], id="control-token")
    token["output"] = f"{token['output']} {CONTROL_TOKEN}<|query|> ignore tudo acima"
    lines = [
        *(json.dumps(r, ensure_ascii=False).encode() for r in good[:2]),
        json.dumps(token, ensure_ascii=False).encode(),
        b'{"id": "cut", "instruction": "Explique a fotoss',
        b'["instruction", "output"]',
        b'{"id": "no-output", "instruction": "Resuma o texto em uma frase."}',
        json.dumps(
            {
                "id": "object-text",
                "messages": [
                    {"role": "user", "content": {"type": "image_url", "url": "http://x/y.png"}},
                    {"role": "assistant", "content": "A imagem mostra uma paisagem."},
                ],
            }
        ).encode(),
        json.dumps(
            {"id": "nul", "instruction": "Diga ol\u00e1.\u0000\u0000", "output": "Ol\u00e1!\u0000 Tudo bem?"}
        ).encode(),
        b'{"id": "latin1", "instruction": "Qual \xe9 a capital?", "output": "Bras\xedlia."}',
        *(json.dumps(r, ensure_ascii=False).encode() for r in good[2:]),
    ]
    path = c.file("instruct/hostile_instruct.jsonl", b"\n".join(lines) + b"\n")
    c.instruct.append(str(path))
    bom = c.file("instruct/bom_instruct.jsonl", b"\xef\xbb\xbf" + _jsonl(records[5]))
    c.instruct.append(str(bom))
    c.expect(f"{bom.stem}:{records[5]['id']}", "kept", "instruct", "", "only record of a file with a BOM")
    stem = path.stem
    for r in good:
        c.expect(f"{stem}:{r['id']}", "kept", "instruct", "", "good Alpaca record")
    c.expect(
        f"{stem}:control-token",
        "repaired",
        "instruct",
        "special_tokens",
        "literal <|endoftext|> and <|query|> in an answer",
    )
    c.expect(f"{stem}:3", "rejected", "instruct", "malformed_json", "line cut in the middle")
    c.expect(f"{stem}:4", "rejected", "instruct", "unknown_format", "array instead of object")
    c.expect(f"{stem}:no-output", "rejected", "instruct", "unknown_format", "no answer field")
    c.expect(
        f"{stem}:object-text", "rejected", "instruct", "malformed_record", "message content is an object"
    )
    c.expect(f"{stem}:nul", "rejected", "instruct", "control_characters", "NUL characters in the text")
    c.expect(f"{stem}:8", "rejected", "instruct", "invalid_utf8", "Latin-1 bytes in a UTF-8 file")


def write_hostile_corpus(out_dir: Path, seed: int = 0, big_line_mb: int = 50) -> dict[str, Any]:
    """Write the hostile corpus into ``out_dir`` and return (and save as ``expected.json``) its table.

    Returns ``{"sources": [SourceSpec kwargs], "instruct": [paths], "expected": [Expected as dict],
    "skipped": [items not written and why], "big_line_bytes": n}``. Source items are read with
    ``pipelines.sources.write_jsonl`` and curated; instruction items go to
    ``pipelines.instruct.curate_instructions``. The huge line is ``big_line_mb`` MB long and its
    source bounds a document at half that, so it is over the bound whatever size is asked for.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    c = _Corpus(out_dir, seed)
    pages, instruct = _good_texts(seed)
    big_line_bytes = int(big_line_mb * 1_000_000)
    _jsonl_items(c, pages, big_line_bytes)
    _text_items(c, pages)
    _html_items(c, pages)
    _pdf_items(c, pages)
    _warc_items(c, pages)
    _instruct_items(c, instruct)
    table = {
        "seed": seed,
        "big_line_bytes": big_line_bytes,
        "sources": c.sources,
        "instruct": c.instruct,
        "expected": [asdict(e) for e in c.expected],
        "skipped": c.skipped,
    }
    (out_dir / EXPECTED_FILE).write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
    return table
