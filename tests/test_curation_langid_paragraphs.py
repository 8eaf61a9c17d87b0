"""Paragraph-level language ID (``[langid] paragraph_level = true``): mixed pages lose their foreign lines."""

from __future__ import annotations

import dataclasses

from datatrove.data import Document

from pipelines.phases import stage_steps
from pipelines.recipe import load_recipe
from pipelines.stages.langid import LanguageID

RECIPE = load_recipe()
PT = [
    "O Supremo Tribunal Federal decidiu nesta quarta-feira que a nova lei de improbidade não retroage para "
    "beneficiar condenados, segundo a maioria dos ministros.",
    "A decisão deve orientar milhares de processos que estão parados nos tribunais de todo o país, afirmaram "
    "os advogados que acompanharam o julgamento em Brasília.",
    "Leia mais",
    "A sessão foi retomada à tarde e terminou com o voto do presidente da corte, que acompanhou o relator em "
    "todos os pontos do processo.",
]
EN = (
    "This website uses cookies to improve your experience while you navigate through the website. Out of "
    "these cookies, the ones categorized as necessary are stored on your browser."
)
ES = (
    "El Tribunal Supremo decidió este miércoles que la nueva ley no es retroactiva para beneficiar a los "
    "condenados, según la mayoría de los magistrados."
)
SHORT_EN = "Read more about cookies"


def paragraph_lid(**changes) -> LanguageID:
    settings = dataclasses.replace(RECIPE.langid, paragraph_level=True, **changes)
    return LanguageID("pt", settings)


def test_foreign_paragraphs_are_removed_and_recorded():
    text = "\n".join([PT[0], EN, PT[1], SHORT_EN, PT[2], "", ES, PT[3]])
    doc = Document(text=text, id="mixed")
    assert paragraph_lid().filter(doc) is True
    assert EN not in doc.text and ES not in doc.text
    assert SHORT_EN in doc.text  # under the length floor: kept unjudged
    assert all(p in doc.text for p in PT)
    removed = doc.metadata["langid_removed"]
    assert [(r["line"], r["language"]) for r in removed] == [(2, "en"), (7, "es")]
    assert doc.metadata["langid_removed_chars"] == len(EN) + len(ES)
    assert all(r["score"] >= RECIPE.langid.min_score for r in removed)
    assert "\n\n\n" not in doc.text


def test_off_by_default():
    assert RECIPE.langid.paragraph_level is False
    text = "\n".join([PT[0], EN, PT[1], PT[3]])
    doc = Document(text=text, id="mixed")
    [step] = stage_steps("langid", RECIPE)
    assert step.filter(doc) is True
    assert doc.text == text and "langid_removed" not in doc.metadata


def test_document_with_too_little_portuguese_left_is_rejected_whole():
    text = "\n".join([PT[0], EN, PT[1], PT[3]])
    doc = Document(text=text, id="mixed")
    assert paragraph_lid(min_kept_fraction=0.9).filter(doc) == (False, "lang:pt_too_little")
    assert doc.text == text  # the reject keeps the original text
    assert doc.metadata["langid_removed"][0]["language"] == "en"


def test_pure_portuguese_is_untouched_and_every_document_is_accounted_for():
    docs = [
        Document(text="\n".join(PT), id="pt"),
        Document(text="\n".join([PT[0], EN, PT[1], PT[3]]), id="mixed"),
        Document(text="\n".join([EN, ES]), id="foreign"),
    ]
    original = docs[0].text
    step = paragraph_lid()
    kept = list(step.run(iter(docs)))
    assert [d.id for d in kept] == ["pt", "mixed"]
    assert kept[0].text == original and kept[0].metadata["langid_removed"] == []
    assert docs[2].metadata["language"] != "pt"  # rejected at document level, as without the option
