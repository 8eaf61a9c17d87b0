"""End-to-end tests of `curate`: real datatrove executors on a small mixed JSONL input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from garimpo.core import ArtifactStore, verify
from pipelines.curate import curate, publish_corpus, run_phase, stage_names
from pipelines.recipe import load_recipe
from pipelines.stages.accounting import AccountingError, invariant_problems

RECIPE = load_recipe()

ARTICLES = [
    "A Câmara dos Deputados aprovou nesta terça-feira o projeto que amplia o acesso a creches públicas. O texto "
    "segue agora para o Senado, onde deve ser votado ainda neste semestre, segundo líderes da base do governo.",
    "O time conquistou o campeonato estadual depois de uma final disputada no estádio lotado. O técnico elogiou "
    "a dedicação dos jogadores e disse que o grupo vai descansar antes da estreia na competição nacional.",
    "Pesquisadores da universidade desenvolveram uma vacina que protege o gado contra a febre aftosa. Os testes "
    "foram feitos em fazendas do interior e os resultados devem ser publicados em uma revista científica.",
]


def write_inputs(folder: Path) -> list[Path]:
    good = [
        {"id": "n1", "text": ARTICLES[0], "source": "news"},
        {"id": "n2", "text": ARTICLES[1].replace("ç", "Ã§").replace("ã", "Ã£"), "source": "news"},  # mojibake
        {"id": "n3", "text": ARTICLES[0], "source": "news"},  # exact duplicate of n1
        {
            "id": "es",
            "text": "El equipo ganó el campeonato después de una final muy disputada en el estadio lleno.",
            "source": "news",
        },
        {"id": "short", "text": "Clique aqui.", "source": "web"},
        {
            "id": "pii",
            "text": ARTICLES[2] + " Contato: 529.982.247-25.",
            "source": "web",
            "metadata": {"k": 1},
        },
    ]
    a = folder / "a.jsonl"
    a.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in good) + "\n")
    b = folder / "b.jsonl"
    with open(b, "wb") as f:
        f.write(b'{"id": "broken", "text": \n')
        f.write(b"\n")  # blank line: not a document
        f.write(b'{"id": "latin1", "text": "ol\xe1"}\n')
        f.write(b'{"id": "empty", "text": ""}\n')
        f.write(json.dumps({"id": "n2copy", "text": ARTICLES[1], "source": "mirror"}).encode() + b"\n")
    return [a, b]


def read_rows(folder: Path) -> list[dict]:
    return [row for p in sorted(folder.glob("*.parquet")) for row in pq.read_table(p).to_pylist()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curate")
    inputs = write_inputs(tmp)
    out = tmp / "out"
    stats = curate(inputs, out, RECIPE, workers=1, work_dir=tmp / "work")
    return inputs, out, stats, tmp


def test_layout_and_columns(run):
    _, out, _, _ = run
    assert sorted(p.name for p in out.iterdir()) == ["dedup_index.npy", "documents", "rejects", "stats.json"]
    docs = pq.read_table(next((out / "documents").glob("*.parquet")))
    rejects = pq.read_table(next((out / "rejects").glob("*.parquet")))
    assert docs.column_names == ["id", "text", "source", "metadata"]
    assert rejects.column_names == ["id", "text", "source", "stage", "reason", "metadata"]


def test_every_document_is_kept_or_rejected_once(run):
    _, out, stats, _ = run
    assert invariant_problems(stats) == []
    assert json.loads((out / "stats.json").read_text()) == stats
    assert [s["stage"] for s in stats["stages"]] == stage_names(RECIPE)
    docs, rejects = read_rows(out / "documents"), read_rows(out / "rejects")
    assert stats["documents_in"] == 10  # 6 + 4 lines; the blank line is not a document
    assert len(docs) == stats["documents_kept"] and len(rejects) == stats["documents_rejected"]
    provenance = [
        (json.loads(r["metadata"])["input_file"], json.loads(r["metadata"])["input_line"])
        for r in docs + rejects
    ]
    assert len(set(provenance)) == stats["documents_in"]


def test_rejects_carry_stage_and_reason(run):
    _, out, _, _ = run
    reasons = {r["id"]: (r["stage"], r["reason"]) for r in read_rows(out / "rejects")}
    assert reasons["b:1"] == ("read", "malformed_json")
    assert reasons["b:3"] == ("read", "invalid_utf8")  # undecodable line: id from file and line
    assert reasons["empty"] == ("read", "empty_text")
    assert reasons["es"] == ("langid", "lang:es")
    assert reasons["short"][0] in ("gopher_quality", "fineweb_quality", "langid")
    assert reasons["n3"] == ("dedup", "exact_duplicate")
    assert reasons["n2copy"] == ("dedup", "exact_duplicate")  # equal once n2's mojibake is repaired


def test_kept_documents_are_clean_and_annotated(run):
    _, out, _, _ = run
    docs = {r["id"]: r for r in read_rows(out / "documents")}
    assert sorted(docs) == ["n1", "n2", "pii"]
    assert docs["n2"]["text"] == ARTICLES[1]
    assert "<CPF>" in docs["pii"]["text"] and "529.982.247-25" not in docs["pii"]["text"]
    meta = {k: json.loads(r["metadata"]) for k, r in docs.items()}
    assert meta["n1"]["dup_cluster_size"] == 2 and meta["n2"]["dup_cluster_size"] == 2
    assert meta["pii"]["pii"] == {"cpf": 1} and meta["pii"]["k"] == 1
    assert meta["n2"]["normalized"] == ["ftfy"] and meta["n1"]["language"] == "pt"
    assert docs["pii"]["source"] == "web"


def test_same_inputs_give_identical_files_with_more_workers(run, tmp_path):
    inputs, out, _, _ = run
    again = tmp_path / "again"
    curate(inputs, again, RECIPE, workers=2)
    for sub in ("documents", "rejects"):
        first = sorted((out / sub).glob("*.parquet"))
        assert [p.read_bytes() for p in first] == [(again / sub / p.name).read_bytes() for p in first]


def test_finished_phases_are_not_rerun(run):
    inputs, _, stats, tmp = run
    again = run_phase("read", RECIPE, tmp / "work", inputs=inputs)
    assert again["stages"][0] == stats["stages"][0]  # same seconds: read from done.json, not recomputed
    with pytest.raises(ValueError, match="different recipe"):
        run_phase("read", RECIPE.replace(language="es"), tmp / "work", inputs=inputs)


def test_broken_accounting_is_detected():
    stats = {
        "stages": [
            {"stage": "read", "in": 3, "kept": 2, "rejected": 1, "reasons": {"x": 1}},
            {"stage": "langid", "in": 1, "kept": 1, "rejected": 0, "reasons": {}},
        ],
        "documents_in": 3,
        "documents_kept": 1,
        "documents_rejected": 1,
    }
    problems = invariant_problems(stats)
    assert any("langid" in p for p in problems) and any("end to end" in p for p in problems)
    from pipelines.stages.accounting import summarize

    with pytest.raises(AccountingError):
        summarize(stats["stages"])


def test_publish_corpus_is_versioned_by_content(run, tmp_path):
    inputs, _, _, _ = run
    store = ArtifactStore(tmp_path / "artifacts")
    first = publish_corpus(store, "demo", inputs, RECIPE)
    second = publish_corpus(store, "demo", inputs, RECIPE)
    assert first.version == second.version
    assert verify(first) == []
    paths = {f.path for f in first.files}
    assert {"documents/00000.parquet", "rejects/00000.parquet", "stats.json"} <= paths
    assert first.file("documents/00000.parquet").documents == 3
    assert first.stats["documents_in"] == 10 and first.config["recipe"]["language"] == "pt"


def test_cli_work_dir_resumes_a_killed_run(tmp_path: Path) -> None:
    from garimpo.cli import main

    (tmp_path / "in").mkdir()
    inputs = write_inputs(tmp_path / "in")
    work = tmp_path / "work"
    # A run killed after its first two phases: their done.json files are in the work folder.
    for phase in ("read", "boilerplate-counts"):
        run_phase(phase, RECIPE, work, inputs)
    read_done = work / "00_read" / "done.json"
    before = read_done.stat().st_mtime_ns
    argv = ["curate", *map(str, inputs), "--name", "news", "--quiet"]
    assert main(["--artifacts", str(tmp_path / "art"), *argv, "--work-dir", str(work)]) == 0
    assert read_done.stat().st_mtime_ns == before  # not run again
    assert (work / "05_dedup" / "done.json").is_file()
    assert main(["--artifacts", str(tmp_path / "fresh"), *argv]) == 0
    resumed = ArtifactStore(tmp_path / "art").load("corpus", "news")
    assert resumed.ref == ArtifactStore(tmp_path / "fresh").load("corpus", "news").ref
    assert resumed.stats["documents_kept"] > 0
