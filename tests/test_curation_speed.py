"""The curation shortcuts change no output: ftfy skipped only where it would change nothing, spaCy
skipped only where its words are known, MinHash and PII patterns rewritten without changing a value.

Each shortcut is compared with the slow path it replaces, on generated text always and on
../shared/data/pt_text when present.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zlib
from pathlib import Path

import ftfy
import pytest
from datatrove.utils.text import PUNCTUATION_SET, split_into_words
from ftfy.badness import MOJIBAKE_CATEGORIES

from pipelines.recipe import load_recipe
from pipelines.sample_corpus import mojibake, write_sample_corpus
from pipelines.stages.dedup import MinHasher, shingles
from pipelines.stages.normalize import _BADNESS_BY_LINE, TextNormalizer, needs_ftfy
from pipelines.stages.words import CLOSERS, OPENERS, WordSplitter
from tests.fixtures.junk_corpus import junk_documents

REPO = Path(__file__).resolve().parents[1]
PT_TEXT = Path(__file__).parents[1] / ".." / "shared" / "data" / "pt_text"
RECIPE = load_recipe()
SENTENCES = [
    "A situação da educação no país melhorou, segundo o ministério.",
    "— Não sei, respondeu ele. «Amanhã falamos», disse a irmã às três horas.",
    "O preço subiu 3,5% em março: R$ 1.234,56 por mês (média de 2023).",
    "ÁGUA É VIDA! Ação coordenada pela Secretaria de Saúde em São Paulo.",
    "Ele pagou € 20 no café; a conta tinha 2º andar, 1ª via e 30°C lá fora…",
]


def real_texts(every: int = 1) -> list[str]:
    if not PT_TEXT.is_dir():
        return []
    texts = []
    for path in sorted(PT_TEXT.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            texts.append(record.get("text") or record["text_hardwrapped"])
    return texts[::every]


def generated_mojibake(seed: int = 0) -> list[str]:
    """Portuguese broken every way ftfy knows: wrong code pages, twice, partly, with control characters."""
    rng = random.Random(seed)
    texts = []
    for sentence in SENTENCES:
        raw = sentence.encode("utf-8")
        for codec in ("latin-1", "cp1252", "mac_roman", "cp1251", "cp1253", "cp1257", "cp437"):
            once = raw.decode(codec, errors="replace")
            texts += [once, once.encode("utf-8").decode(codec, errors="replace")]
            cut = rng.randrange(len(sentence))
            texts.append(sentence[:cut] + once[cut:])  # half repaired, half broken
            texts.append(sentence + "\n" + once + "\n" + sentence)
        texts += [
            mojibake(sentence),
            "Ã " + sentence,  # "^[ÃÂ] " only matches at a line start
            sentence + "\nÂ " + sentence,
            sentence.replace("ç", "\x87").replace("ã", "\x83"),  # C1 controls
            "\x1b[31m" + sentence + "\x1b[0m",  # terminal colours
            sentence.replace(" ", "\x00", 2) + "\ufeff",
            sentence + "\ud83d",  # a lone surrogate
            sentence.encode("utf-8").decode("latin-1").replace("\xa0", " "),
        ]
    return texts


def test_ftfy_is_skipped_only_where_it_would_change_nothing(tmp_path):
    write_sample_corpus(tmp_path, n_docs=200)
    sample = [
        json.loads(line).get("text", "")
        for name in ("web.jsonl", "blog.jsonl")
        for line in (tmp_path / name).read_text(encoding="utf-8").splitlines()
        if line.startswith("{") and line.endswith("}")
    ]
    junk = [r["text"] for r in junk_documents(10) if r["source"] == "mojibake"]
    broken = generated_mojibake() + junk
    clean = SENTENCES + real_texts()
    config = TextNormalizer().ftfy_config
    changed = 0
    for text in broken + sample + clean:
        fixed = ftfy.fix_text(text, config=config)
        changed += fixed != text
        assert needs_ftfy(text) or fixed == text, text[:200]
    assert changed >= len(broken) // 2  # the broken texts really exercise ftfy
    skipped = sum(not needs_ftfy(t) for t in clean)
    assert skipped >= len(clean) // 2  # and clean Portuguese mostly skips it


def test_every_ftfy_badness_pattern_needs_a_marked_character():
    """Random strings over the characters ftfy's detector knows: wherever it fires, the gate does."""
    alphabet = sorted(
        {c for chars in MOJIBAKE_CATEGORIES.values() for c in chars if c != "-"}
        | set("ÂÃÎÐØÙŒœ×²³µ¹¼½¾√±∂†≠®™´≤≥¥ø≈°¢‚Äìîïòôúùûπâóàäêв€ЂГўВРСβΆΒΓΞΟā")
        | set("abcxyzABC .,?!\n")
    )
    rng = random.Random(7)
    fired = 0
    for _ in range(30000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))
        if _BADNESS_BY_LINE.search(text):
            fired += 1
            assert needs_ftfy(text), repr(text)
    assert fired > 1000


def test_normalize_output_is_the_same_with_and_without_the_gate():
    normalizer = TextNormalizer(RECIPE.normalize)
    config = normalizer.ftfy_config
    for text in generated_mojibake(seed=1) + SENTENCES:
        gated = normalizer.normalize_text(text)
        forced = TextNormalizer(RECIPE.normalize).normalize_text(ftfy.fix_text(text, config=config))
        assert gated[0] == forced[0]
        assert ("ftfy" in gated[1]) == (ftfy.fix_text(text, config=config) != text)


def test_affix_shortcut_gives_spacy_words():
    splitter = WordSplitter("por")
    assert splitter.nlp is not None and splitter._affixes_checked
    words = [
        "casa",
        "País",
        "EUA",
        "ação",
        "É",
        "A",
        "a",
        "xD",
        "Sr",
        "etc",
        "quarta-feira",
        "2023",
        "1.000",
        "3,5",
    ]
    chunks = [
        o + w + c + end
        for w in words
        for o in ("", *OPENERS, "«(")
        for c in ("", *CLOSERS, "»,", ")")
        for end in ("", ".")
    ]
    shortcut = [c for c in chunks if splitter._affixed_word(splitter.nlp, c) is not None]
    assert len(shortcut) > len(chunks) // 2
    text = " ".join(chunks)
    assert splitter(text) == split_into_words(text, "por")


def test_affix_shortcut_on_real_chunks():
    texts = real_texts(every=3) + [r["text"] for r in junk_documents(5)]
    if len(texts) < 100:
        pytest.skip(f"shared data not found: {PT_TEXT}")
    splitter = WordSplitter("por")
    nlp = splitter.nlp
    chunks = sorted({c for t in texts for c in t.split() if not c.isalpha()})
    fast = {c: splitter._affixed_word(nlp, c) for c in chunks}
    fast = {c: w for c, w in fast.items() if w is not None}
    assert len(fast) > len(chunks) // 2
    reference = WordSplitter("por").nlp.tokenizer
    for chunk, words in fast.items():
        assert list(words) == [t.text for t in reference(chunk)], chunk


def test_letter_words_count_as_non_symbol_words():
    # GopherQuality counts alphabetic words without looking at their characters.
    assert not any(c.isalpha() for c in PUNCTUATION_SET)


def _reference_signature(text: str, hasher: MinHasher) -> list[int]:
    """datasketch's formula in plain Python integers."""
    mersenne = (1 << 61) - 1
    values = []
    for a, b in zip(hasher.a.tolist(), hasher.b.tolist(), strict=True):
        values.append(
            min(
                (((a * zlib.crc32(s) + b) % (1 << 64)) % mersenne) & 0xFFFFFFFF
                for s in shingles(text, hasher.settings.ngram)
            )
        )
    return values


def test_minhash_signature_matches_the_plain_formula():
    hasher = MinHasher(RECIPE.dedup)
    for text in [*SENTENCES, "", "curto", " ".join(SENTENCES) * 3]:
        assert hasher.signature(text).tolist() == _reference_signature(text, hasher)


def test_curation_workers_tokenize_without_torch():
    # thinc imports torch with spaCy whenever torch is installed: ~2 s and ~230 MB per curation worker.
    # In a fresh process the word splitter must give spaCy's words with torch never imported, and torch
    # must still import afterwards (a process that curates and then trains).
    script = (
        "import sys\n"
        "from pipelines.stages.words import WordSplitter\n"
        "words = WordSplitter('por')('Olá, mundo (sim). Sr. Silva chegou às 10h30!')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "import torch, thinc.compat\n"
        "print(words, thinc.compat.has_torch, torch.tensor([1]).item())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    words, has_torch, one = out.stdout.rsplit(" ", 2)
    assert words == str(split_into_words("Olá, mundo (sim). Sr. Silva chegou às 10h30!", "por"))
    assert (has_torch, one.strip()) == ("False", "1")
