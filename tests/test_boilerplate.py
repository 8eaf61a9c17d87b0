"""Boilerplate stage: template lines and per-site repeated lines out of any text, counted and streamed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from pipelines.curate import curate
from pipelines.recipe import BoilerplateSettings, load_recipe
from pipelines.sources.template_lines import is_template_line, remove_template_lines
from pipelines.stages.boilerplate import BoilerplateRemover, CountMinSketch, document_site

BODY = (
    "A feira de artesanato da praça central reuniu mais de cem expositores neste sábado, com peças de "
    "cerâmica, bordados e cestaria feitos por famílias da região."
)


def _doc(i: int, text: str, **meta) -> Document:
    return Document(text=text, id=f"d{i}", metadata={"source": "web", **meta})


def test_template_lines_go_from_a_jsonl_style_document():
    text = (
        "Postado por Rui Fernandes às 15:24\n\n"
        f"{BODY}\n\nOutro parágrafo, também com conteúdo próprio.\n\n"
        "Marcadores: feira, artesanato\nCompartilhe no Facebook"
    )
    kept, rejected = BoilerplateRemover(BoilerplateSettings()).clean([_doc(0, text)])
    assert rejected == []
    assert kept[0].text == f"{BODY}\n\nOutro parágrafo, também com conteúdo próprio."
    assert kept[0].metadata["template_lines_removed"] == 3
    assert kept[0].metadata["site_lines_removed"] == 0


def test_label_lists_that_spill_onto_the_next_lines():
    text = f"{BODY}\n05/10/2018 - Publicado por: Ana - Tags: saúde\narrombamento\nveiculo\nTags\nfeira, praça"
    assert remove_template_lines(text) == (BODY, 5)


def test_prose_opening_with_a_template_word_is_kept():
    prose = "Compartilhar é cuidar: " + "uma frase longa sobre partilha e comunidade " * 6
    assert not is_template_line(prose)
    assert remove_template_lines(prose.strip()) == (prose.strip(), 0)
    novel = "leia mais. Vá envelhecendo, sem marido nem filha, que eu faço a mesma\ncousa, e é ainda o melhor"
    assert remove_template_lines(novel) == (novel, 0)  # a hard-wrapped sentence, not a "Leia mais" heading


def test_site_lines_per_site_and_emptied_documents_rejected():
    docs = [_doc(i, f"Menu do site\n{BODY} Dia {w}.", url=f"https://www.a.com.br/p{i}") for i, w in enumerate("abcde")]
    docs.append(_doc(5, "Menu do site", url="https://a.com.br/vazia"))
    docs.append(_doc(6, f"Menu do site\n{BODY}", url="https://b.com.br/p"))
    kept, rejected = BoilerplateRemover(BoilerplateSettings(min_pages=5, min_fraction=0.5)).clean(docs)
    by_id = {d.id: d for d in kept}
    assert by_id["d0"].text == f"{BODY} Dia a." and by_id["d0"].metadata["site_lines_removed"] == 1
    assert [(d.id, d.metadata["filter_reason"]) for d in rejected] == [("d5", "boilerplate_only")]
    assert by_id["d6"].text.startswith("Menu do site")  # another site: one page, nothing repeated


def test_site_comes_from_site_then_url_then_source():
    assert document_site(_doc(0, "x", site="s.br", url="https://u.br/p")) == "s.br"
    assert document_site(_doc(0, "x", url="https://www.u.br/p")) == "u.br"
    assert document_site(_doc(0, "x", url="http://[::1")) == "web"
    assert document_site(_doc(0, "x")) == "web"


def test_exact_copies_do_not_make_a_page_look_like_boilerplate():
    docs = [_doc(i, f"{BODY}\nSegundo parágrafo.") for i in range(6)]
    kept, rejected = BoilerplateRemover(BoilerplateSettings(min_pages=5, min_fraction=0.2)).clean(docs)
    assert rejected == [] and all(d.text == f"{BODY}\nSegundo parágrafo." for d in kept)


@pytest.mark.parametrize("width", [1, 7, 1 << 16])
def test_result_does_not_depend_on_the_sketch_size(width):
    # A 1-cell sketch calls every line frequent; the exact second count must still decide alike.
    words = ["um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez", "onze", "doze"]
    docs = [_doc(i, f"Assinatura do fórum\n{BODY} Resposta {w}.\nLinha {'xyz'[i % 3]} rara") for i, w in enumerate(words)]
    settings = BoilerplateSettings(min_pages=5, min_fraction=0.2, sketch_width=width, sketch_depth=2)
    kept, _ = BoilerplateRemover(settings).clean([Document(d.text, d.id, metadata=dict(d.metadata)) for d in docs])
    # The signature is on all 12 pages; each "Linha" variant on 4, under min_pages.
    assert [d.text for d in kept] == [f"{BODY} Resposta {w}.\nLinha {'xyz'[i % 3]} rara" for i, w in enumerate(words)]


def test_count_min_sketch_never_undercounts():
    sketch = CountMinSketch(width=3, depth=2)
    import numpy as np

    for keys in ([1, 2, 3], [1, 2], [1], [1, 1, 1]):
        sketch.add(np.array(keys, dtype=np.uint64))
    assert list(sketch.estimate(np.array([1, 2, 3], dtype=np.uint64)) >= [4, 2, 1]) == [True] * 3
    assert sketch.estimate(np.array([], dtype=np.uint64)).size == 0


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _texts(path: Path) -> list[str]:
    return pq.read_table(path, columns=["text"]).column("text").to_pylist()


def _boilerplate_stats(stats: dict) -> dict:
    return next(s for s in stats["stages"] if s["stage"] == "boilerplate")


def test_curate_counts_removed_lines_and_runs_before_langid(tmp_path):
    recipe = load_recipe()
    assert recipe.stages.index("boilerplate") < recipe.stages.index("langid")
    bodies = [
        BODY,
        "O conselho municipal aprovou ontem o novo plano de mobilidade, que prevê ciclovias em todos os "
        "bairros e ônibus elétricos nas linhas que cruzam o centro da cidade até o fim de 2026.",
        "Na biblioteca pública, as oficinas de leitura para crianças voltam em março, às terças e quintas, "
        "com contadores de histórias convidados e empréstimo de livros sem custo para as famílias.",
    ]
    rows = [{"id": f"p{i}", "text": f"Postado por Rui às 15:2{i}\n{b}", "source": "blog"} for i, b in enumerate(bodies)]
    rows.append({"id": "only", "text": "Marcadores: feira\nCompartilhe no Facebook", "source": "blog"})
    stats = curate([_jsonl(tmp_path / "in.jsonl", rows)], tmp_path / "out", recipe)
    entry = _boilerplate_stats(stats)
    assert (entry["in"], entry["kept"], entry["reasons"]) == (4, 3, {"boilerplate_only": 1})
    assert entry["lines_removed"] == {"template": 5, "site": 0}
    texts = [t for p in sorted((tmp_path / "out" / "documents").glob("*.parquet")) for t in _texts(p)]
    assert len(texts) == 3 and not any(is_template_line(line) for t in texts for line in t.split("\n"))


def test_curate_with_every_document_boilerplate(tmp_path):
    rows = [{"id": f"b{i}", "text": "Compartilhe no Facebook\nLeia também", "source": "blog"} for i in range(3)]
    stats = curate([_jsonl(tmp_path / "in.jsonl", rows)], tmp_path / "out", load_recipe())
    entry = _boilerplate_stats(stats)
    assert (entry["in"], entry["kept"], entry["rejected"]) == (3, 0, 3)
    assert entry["reasons"] == {"boilerplate_only": 3} and stats["documents_kept"] == 0


def test_curate_with_no_document(tmp_path):
    stats = curate([_jsonl(tmp_path / "in.jsonl", [])], tmp_path / "out", load_recipe())
    entry = _boilerplate_stats(stats)
    assert (entry["in"], entry["kept"], entry["rejected"]) == (0, 0, 0)
    assert entry["lines_removed"] == {"template": 0, "site": 0}


@pytest.mark.shared_data
def test_real_clean_portuguese_keeps_its_lines():
    folder = Path(__file__).parents[1] / ".." / "shared" / "data" / "pt_text"
    if not folder.is_dir():
        pytest.skip("../shared/data/pt_text is absent")
    docs = []
    for path in sorted(folder.rglob("*.jsonl")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            record = json.loads(line)
            text = record.get("text") or record["text_hardwrapped"]
            docs.append(Document(text=text, id=f"{path.stem}:{i}", metadata={"source": path.stem}))
    lines = sum(1 for d in docs for line in d.text.split("\n") if line.strip())
    kept, rejected = BoilerplateRemover(load_recipe().boilerplate).clean(docs)
    removed = sum(d.metadata["template_lines_removed"] + d.metadata["site_lines_removed"] for d in kept + rejected)
    # Measured: 1 of 21 126 lines ("Cadastre-se e receba as matérias por e-mail.", a real template line).
    assert removed <= 0.001 * lines
    assert all(d.metadata["template_lines_removed"] == 0 for d in kept if d.id.startswith("machado"))


def _sites_corpus(seed: int) -> list[dict]:
    """Pages of five sites with menus, footers and notices on varying shares of their pages (some
    exactly at the threshold), exact copies of pages, a site under ``min_pages`` and pages without url."""
    import random

    rng = random.Random(seed)
    words = BODY.replace(",", "").replace(".", "").split()
    rows = []
    for s, (site, pages) in enumerate({"a.com.br": 40, "b.pt": 25, "c.org": 12, "d.net": 4, "": 30}.items()):
        shared = [f"Menu {site or 'sem url'} {k} " + " ".join(rng.sample(words, 4)) for k in range(8)]
        for p in range(pages):
            lines = [line for k, line in enumerate(shared) if rng.random() < (0.9, 0.5, 0.25, 0.2, 0.12)[k % 5]]
            lines += [" ".join(rng.sample(words, 12)) + f" {s}-{p}." for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.2:
                lines.insert(0, "Postado por Rui às 15:24")
            rng.shuffle(lines)
            row = {"id": f"{s}-{p}", "text": "\n".join(lines), "source": "web"}
            if site:
                row["metadata"] = {"url": f"https://{site}/p/{p}"}
            rows.append(row)
            if rng.random() < 0.15:  # an exact copy of the page, counted once
                rows.append({**row, "id": f"{s}-{p}-copy"})
    rows.append({"id": "menu-only", "text": f"{shared[0]}\n{shared[5]}", "source": "web"})  # the commonest menu lines
    return rows


@pytest.mark.parametrize("workers", [1, 3])
def test_the_phases_remove_exactly_what_the_single_task_removes(tmp_path, workers):
    """`garimpo curate` counts lines as a map-reduce over its tasks; `BoilerplateRemover` in one process
    with a sketch. Both must keep the same lines of every page and count the same removals."""
    rows = _sites_corpus(seed=workers)
    recipe = load_recipe()
    recipe = recipe.replace(stages=("boilerplate",), boilerplate=BoilerplateSettings(min_pages=3, min_fraction=0.2))
    inputs = [_jsonl(tmp_path / "a.jsonl", rows[: len(rows) // 2]), _jsonl(tmp_path / "b.jsonl", rows[len(rows) // 2 :])]
    stats = curate(inputs, tmp_path / "out", recipe, workers=workers)
    docs = [Document(r["text"], r["id"], metadata={"source": r["source"], **r.get("metadata", {})}) for r in rows]
    kept, rejected = BoilerplateRemover(recipe.boilerplate).clean(docs)
    got = {}
    for kind in ("documents", "rejects"):
        for path in sorted((tmp_path / "out" / kind).glob("*.parquet")):
            table = pq.read_table(path, columns=["id", "text", "metadata"]).to_pylist()
            got |= {r["id"]: (r["text"], json.loads(r["metadata"])) for r in table}
    for doc in kept:
        text, meta = got[doc.id]
        assert text == doc.text, doc.id
        assert (meta["template_lines_removed"], meta["site_lines_removed"]) == (
            doc.metadata["template_lines_removed"],
            doc.metadata["site_lines_removed"],
        )
    assert {d.id for d in rejected} == {r["id"] for r in rows} - {d.id for d in kept}
    entry = _boilerplate_stats(stats)
    site_lines = sum(d.metadata["site_lines_removed"] for d in kept + rejected)
    assert entry["lines_removed"]["site"] == site_lines > 50  # the corpus does exercise the site pass
    assert entry["kept"] == len(kept) and entry["rejected"] == len(rejected) >= 1
