"""Near-duplicate recall on lightly edited copies, with the exact Jaccard confirmation on the texts."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from datatrove.data import Document

from pipelines.recipe import load_recipe
from pipelines.stages.dedup import DedupIndex, Deduplicator

RECIPE = load_recipe()
SHARED = Path(__file__).parents[1] / ".." / "shared" / "data" / "pt_text"
ARTICLE = (
    "A Câmara Municipal aprovou nesta terça-feira o projeto que amplia o horário das bibliotecas públicas "
    "da cidade, que passarão a abrir aos sábados e domingos a partir do próximo mês. Segundo a secretaria "
    "de cultura, a medida atende a um pedido antigo de estudantes e trabalhadores que não conseguem "
    "frequentar os espaços durante a semana. O orçamento prevê a contratação de vinte novos servidores, "
    "além da compra de livros e computadores para as unidades dos bairros mais afastados. A oposição "
    "votou a favor, mas cobrou um cronograma claro para as reformas dos prédios, alguns deles fechados "
    "há mais de dois anos por problemas no telhado e na rede elétrica. A primeira biblioteca a funcionar "
    "no novo horário será a do centro, que também ganhará uma sala de leitura para crianças pequenas."
)


def _doc(text: str, doc_id: str, line: int) -> Document:
    return Document(text=text, id=doc_id, metadata={"input_file": "a", "input_line": line})


def _edited(text: str, every: int) -> str:
    """One word substituted, one deleted and one inserted in each block of ``every`` words."""
    words = text.split()
    out = []
    for i, word in enumerate(words):
        k = i % every
        if k == 3:
            continue
        out.append("novamente" if k == 7 else word)
        if k == 11:
            out.append("ainda")
    return " ".join(out)


def test_a_lightly_edited_copy_is_found():
    copy = _edited(ARTICLE, 80)  # 6 of its 131 words edited: 4.6%
    kept, rejected = Deduplicator(RECIPE.dedup).dedupe([_doc(ARTICLE, "a", 1), _doc(copy, "b", 2)])
    assert [d.id for d in kept] == ["a"] and kept[0].metadata["dup_cluster_size"] == 2
    assert [(d.id, d.metadata["filter_reason"], d.metadata["duplicate_of"]) for d in rejected] == [
        ("b", "near_duplicate", "a")
    ]


def test_the_exact_confirmation_decides_after_the_signatures():
    copy = _edited(ARTICLE, 80)
    strict = dataclasses.replace(RECIPE.dedup, min_similarity=0.0, min_jaccard=0.99)
    kept, _ = Deduplicator(strict).dedupe([_doc(ARTICLE, "a", 1), _doc(copy, "b", 2)])
    assert [d.id for d in kept] == ["a", "b"]  # the signatures match, the texts are not 99% alike


def test_the_spilled_run_decides_like_the_in_memory_one():
    docs = [_doc(ARTICLE, "a", 1), _doc(_edited(ARTICLE, 80), "b", 2), _doc(ARTICLE[::-1], "c", 3)]
    expected = [d.id for d in Deduplicator(RECIPE.dedup).dedupe([Document(d.text, d.id, metadata=dict(d.metadata)) for d in docs])[0]]
    streamed = [d.id for d in Deduplicator(RECIPE.dedup).run(iter(docs))]
    assert streamed == expected == ["a", "c"]


def test_against_an_earlier_version_the_signatures_confirm(tmp_path):
    first = Deduplicator(RECIPE.dedup, index_out=tmp_path / "index.npy")
    assert [d.id for d in first.run(iter([_doc(ARTICLE, "a", 1)]))] == ["a"]
    later = Deduplicator(RECIPE.dedup, against=[DedupIndex.load(tmp_path / "index.npy")])
    kept, rejected = later.dedupe([_doc(ARTICLE + " Fim.", "b", 1), _doc(ARTICLE[::-1], "c", 2)])
    assert [d.id for d in kept] == ["c"] and rejected[0].metadata["duplicate_of"] == "a"


@pytest.mark.shared_data
def test_real_news_items_sharing_a_template_stay_apart_and_their_light_copies_go():
    path = SHARED / "bosque_docs.jsonl"
    if not path.is_file():
        pytest.skip("../shared/data/pt_text is absent")
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [t for t in texts if 100 <= len(t.split()) <= 300][:120]
    header = "Início | Notícias | Esportes | Política | Economia | Contato\nAssine a nossa newsletter.\n"
    footer = "\nLeia também\n© 2024 Todos os direitos reservados. Proibida a reprodução sem autorização."
    rng = random.Random(0)
    docs = [_doc(header + t + footer, f"n{i}", i) for i, t in enumerate(texts)]
    docs += [_doc(header + _edited(t, rng.choice((80, 100, 120))) + footer, f"n{i}c", 1000 + i) for i, t in enumerate(texts)]
    kept, rejected = Deduplicator(RECIPE.dedup).dedupe(docs)
    assert {d.id for d in kept} >= {f"n{i}" for i in range(len(texts))}  # no distinct item merged
    found = sum(1 for d in rejected if d.metadata["duplicate_of"] == d.id.removesuffix("c"))
    assert found / len(texts) >= 0.9
