"""Unit tests of each curation stage on in-memory Documents: no disk, no executor, no Prefect."""

from __future__ import annotations

import dataclasses

import pytest
from datatrove.data import Document

from garimpo.core.settings import config_path
from pipelines.phases import stage_steps
from pipelines.recipe import DEFAULT_RECIPE, load_recipe, recipe_from_dict
from pipelines.stages.dedup import Deduplicator
from pipelines.stages.langid import LanguageID
from pipelines.stages.normalize import TextNormalizer
from pipelines.stages.pii import PIIRedactor, valid_cnpj, valid_cpf
from pipelines.stages.quality import fineweb_quality_filter, gopher_quality_filter, repetition_filter
from pipelines.stages.read import InputCheck, parse_line

RECIPE = load_recipe()

PT_NEWS = (
    "O Supremo Tribunal Federal decidiu nesta quarta-feira que a nova lei de improbidade não retroage para "
    "beneficiar condenados. A decisão foi tomada por maioria e deve orientar milhares de processos que estão "
    "parados nos tribunais de todo o país, segundo os ministros que acompanharam o julgamento."
)
PT_SHORT = "A prefeitura abriu hoje as inscrições para o curso de férias. As vagas são limitadas e gratuitas."
ES_NEWS = (
    "El Tribunal Supremo decidió este miércoles que la nueva ley no es retroactiva para beneficiar a los "
    "condenados. La decisión fue tomada por mayoría y debe orientar miles de procesos en todo el país."
)
EN_NEWS = (
    "The Supreme Court decided on Wednesday that the new law does not apply retroactively to benefit those "
    "already convicted. The decision was taken by a majority and should guide thousands of cases."
)


def doc(text: str, id: str = "d", **metadata) -> Document:
    return Document(text=text, id=id, metadata=dict(metadata))


def run_step(step, docs: list[Document]) -> list[Document]:
    return list(step.run(iter(docs)))


# --- recipe -------------------------------------------------------------------------------------


def test_recipe_loads_portuguese_thresholds_from_toml():
    assert config_path("recipes", DEFAULT_RECIPE).is_file()
    assert RECIPE.language == "pt" and RECIPE.word_tokenizer == "por"
    assert "que" in RECIPE.gopher_quality.stop_words and "the" not in RECIPE.gopher_quality.stop_words
    assert RECIPE.gopher_repetition.top_n_grams[0] == (2, 0.371)
    assert RECIPE.to_dict()["dedup"]["bands"] == 25 and RECIPE.dedup.min_jaccard == 0.61
    assert RECIPE.stages.index("boilerplate") == RECIPE.stages.index("normalize") + 1


def test_recipe_rejects_unknown_keys():
    with pytest.raises(ValueError, match="min_doc_wrods"):
        recipe_from_dict({"gopher_quality": {"min_doc_wrods": 5}})
    with pytest.raises(ValueError, match="stages"):
        recipe_from_dict({"stages": ["normalize", "spellcheck"]})


# --- read ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"id": "x", "text": ', "malformed_json"),
        (b'{"id": "x", "text": "caf\xe9"}', "invalid_utf8"),
        (b'["a", "b"]', "not_an_object"),
        (b'{"id": "x"}', "missing_text"),
        (b'{"id": "x", "text": 3}', "text_not_string"),
        (b'{"id": "x", "text": "ok", "metadata": 3}', "metadata_not_object"),
        (b'{"id": "x", "text": "\\ud800"}', "invalid_unicode"),
        (b'{"id": "x", "text": "  \\n "}', "empty_text"),
    ],
)
def test_bad_lines_become_rejects_with_reason(raw, reason):
    d = parse_line(raw, "f", "f.jsonl", 7)
    assert InputCheck().filter(d) == (False, reason)
    assert d.metadata["input_line"] == 7


def test_good_line_keeps_fields_and_provenance():
    d = parse_line(
        b'{"id": 5, "text": "Ol\xc3\xa1", "source": "blog", "variety": "pt-BR"}', "f", "f.jsonl", 2
    )
    assert InputCheck().filter(d) is True
    assert (d.id, d.text) == ("5", "Olá")
    assert d.metadata == {"variety": "pt-BR", "source": "blog", "input_file": "f.jsonl", "input_line": 2}


# --- normalize ----------------------------------------------------------------------------------


def test_normalize_fixes_mojibake_nfc_invisible_and_whitespace():
    n = TextNormalizer(RECIPE.normalize)
    fixed = n.normalize(doc("A situaÃ§Ã£o da educaÃ§Ã£o"))
    assert fixed.text == "A situação da educação"
    assert fixed.metadata["normalized"] == ["ftfy"]

    decomposed = "ac\u0327a\u0303o"  # c + combining cedilla, a + combining tilde
    assert n.normalize(doc(decomposed)).text == "ação"

    messy = n.normalize(doc("pala\u200bvra\u00ad  com\t espaços\x07\r\n\n\n\nfim  "))
    assert messy.text == "palavra com espaços\n\nfim"
    assert {"invisible_chars", "whitespace"} <= set(messy.metadata["normalized"])


def test_normalize_stage_rejects_text_that_was_only_invisible():
    normalizer, check = stage_steps("normalize", RECIPE)
    out = run_step(
        check, run_step(normalizer, [doc("\u200b\u200b \ufeff", id="ghost"), doc(PT_SHORT, id="ok")])
    )
    assert [d.id for d in out] == ["ok"]


# --- language ID --------------------------------------------------------------------------------


def test_langid_keeps_portuguese_and_rejects_spanish_and_english_with_reasons():
    lid = LanguageID("pt", RECIPE.langid)
    pt, es, en = doc(PT_NEWS), doc(ES_NEWS), doc(EN_NEWS)
    assert lid.filter(pt) is True
    assert lid.filter(es) == (False, "lang:es")
    assert lid.filter(en) == (False, "lang:en")
    assert pt.metadata["language"] == "pt" and pt.metadata["language_score"] >= RECIPE.langid.min_score
    assert len(pt.metadata["language_top3"]) == 3
    assert es.metadata["language_top3"][0][0] == "es"


def test_langid_threshold_comes_from_recipe():
    strict = LanguageID("pt", dataclasses.replace(RECIPE.langid, min_score=1.01))
    assert strict.filter(doc(PT_NEWS)) == (False, "lang:pt_low_score")


# --- quality ------------------------------------------------------------------------------------


def test_portuguese_quality_keeps_real_news_that_english_defaults_drop():
    from datatrove.pipeline.filters import GopherQualityFilter

    assert GopherQualityFilter().filter(doc(PT_NEWS)) != True  # noqa: E712 - English stop words
    for f in (
        repetition_filter(RECIPE.gopher_repetition),
        gopher_quality_filter(RECIPE.gopher_quality),
        fineweb_quality_filter(RECIPE.fineweb_quality),
    ):
        assert f.filter(doc(PT_NEWS)) is True, f.name
        assert f.filter(doc(PT_SHORT)) is True, f.name


def test_gopher_quality_uses_recipe_min_words_and_stop_words():
    settings = RECIPE.gopher_quality
    assert gopher_quality_filter(dataclasses.replace(settings, min_doc_words=60)).filter(doc(PT_NEWS)) == (
        False,
        "gopher_short_doc",
    )
    no_stop = "Relatório trimestral consolidado: receitas operacionais cresceram acima das projeções " * 2
    assert gopher_quality_filter(settings).filter(doc(no_stop)) == (False, "gopher_enough_stop_words")


def test_repetition_filter_uses_recipe_thresholds_and_catches_spam():
    spam = "compre agora o melhor preço " * 30
    assert repetition_filter(RECIPE.gopher_repetition).filter(doc(spam))[0] is False
    loose = dataclasses.replace(RECIPE.gopher_repetition, dup_line_frac=0, top_n_grams=(), dup_n_grams=())
    assert repetition_filter(loose).filter(doc(spam)) is True


def test_fineweb_filter_counts_closing_quotes_as_punctuation():
    quoted = 'O ministro disse que "a economia vai crescer neste ano, apesar das dificuldades."'
    assert fineweb_quality_filter(RECIPE.fineweb_quality).filter(doc(quoted)) is True
    plain = dataclasses.replace(RECIPE.fineweb_quality, closing_marks=())
    assert fineweb_quality_filter(plain).filter(doc(quoted)) == (False, "line_punct_ratio")


# --- PII ----------------------------------------------------------------------------------------


def test_cpf_and_cnpj_check_digits():
    assert valid_cpf("529.982.247-25") and not valid_cpf("529.982.247-26") and not valid_cpf("111.111.111-11")
    assert valid_cnpj("11.222.333/0001-81") and not valid_cnpj("11.222.333/0001-80")


def test_pii_masks_valid_ids_contacts_and_keeps_random_digits():
    text = (
        "CPF 529.982.247-25, CPF inválido 529.982.247-26, pedido 12345678901, CNPJ 11.222.333/0001-81, "
        "fone (11) 98765-4321, +55 21 3456-7890, e-mail maria.souza@exemplo.com.br, IP 8.8.8.8 e 192.168.0.1, "
        "em 2023 por R$ 1.234.567,89."
    )
    [out] = run_step(PIIRedactor(RECIPE.pii), [doc(text)])
    assert out.metadata["pii"] == {"cpf": 1, "cnpj": 1, "phone": 2, "email": 1, "ip": 1}
    for kept in ("529.982.247-26", "12345678901", "192.168.0.1", "2023", "R$ 1.234.567,89"):
        assert kept in out.text
    for masked in ("529.982.247-25", "11.222.333/0001-81", "98765-4321", "maria.souza", "8.8.8.8"):
        assert masked not in out.text
    assert "<CPF>" in out.text and "<TELEFONE>" in out.text


# --- dedup --------------------------------------------------------------------------------------


def test_dedup_exact_and_near_duplicates_with_cluster_size():
    near = PT_NEWS.replace("quarta-feira", "quinta-feira")
    docs = [
        doc(PT_NEWS, "a", input_file="x.jsonl", input_line=1),
        doc(ES_NEWS, "b", input_file="x.jsonl", input_line=2),
        doc("  " + PT_NEWS.upper(), "c", input_file="x.jsonl", input_line=3),
        doc(near, "d", input_file="x.jsonl", input_line=4),
        doc(PT_SHORT, "e", input_file="x.jsonl", input_line=5),
    ]
    kept, rejected = Deduplicator(RECIPE.dedup).dedupe(list(reversed(docs)))
    assert [d.id for d in kept] == ["a", "b", "e"]  # first in input order, whatever the arrival order
    assert [d.metadata["dup_cluster_size"] for d in kept] == [3, 1, 1]
    assert {d.id: (d.metadata["filter_reason"], d.metadata["duplicate_of"]) for d in rejected} == {
        "c": ("exact_duplicate", "a"),
        "d": ("near_duplicate", "a"),
    }


def test_dedup_near_switch_from_recipe():
    near = PT_NEWS.replace("quarta-feira", "quinta-feira")
    exact_only = Deduplicator(dataclasses.replace(RECIPE.dedup, near=False))
    kept, rejected = exact_only.dedupe([doc(PT_NEWS, "a"), doc(near, "b")])
    assert len(kept) == 2 and not rejected


def test_jsonl_reader_handles_bom_huge_lines_and_truncated_archives(tmp_path):
    import gzip

    from pipelines.stages.read import read_jsonl

    plain = tmp_path / "a.jsonl"
    plain.write_bytes(
        b'\xef\xbb\xbf{"id":"a","text":"ol\xc3\xa1"}\n'
        + b'{"id":"b","text":"' + b"x" * 5000 + b'"}\n'
        + b'{"id":"c","text":"fim"}\n'
    )  # fmt: skip
    docs = list(read_jsonl(plain, "a.jsonl", max_line_bytes=1000))
    assert [(d.id, d.metadata.get("read_error")) for d in docs] == [
        ("a", None),
        ("a:2", "line_too_long"),
        ("c", None),
    ]
    assert docs[0].text == "olá"

    archive = tmp_path / "b.jsonl.gz"
    lines = b"".join(b'{"id":"x%d","text":"texto %d"}\n' % (i, i) for i in range(5000))
    archive.write_bytes(gzip.compress(lines)[:3000])
    docs = list(read_jsonl(archive, "b.jsonl.gz"))
    assert docs[-1].metadata["read_error"] == "corrupt_file"
    assert sum(d.metadata.get("read_error") is None for d in docs) > 100
