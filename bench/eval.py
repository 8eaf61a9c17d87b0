"""`garimpo eval` figures on real data, as one JSON line: what it costs and whether the harness agrees.

A tiny model is trained here for a few steps (Porttinari news, read without curation, through the
tokenizer and shard builders), then ``garimpo eval --harness`` runs on it with Machado chapters and
Bosque documents as held-out text and the ENEM 2024 questions: held-out bits per byte, ENEM
``acc``/``acc_norm`` from garimpo and from lm-evaluation-harness, cloze, contamination, and the
wall time of the whole evaluation. The model is tiny, so the scores are near chance by design; the
figures are the cost and the agreement.

    .venv/bin/python -m bench.eval [--max-items 60] [--steps 30]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _texts(path: Path, field: str) -> list[str]:
    return [json.loads(x)[field] for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-items", type=int, default=60)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is absent: the bench needs the real data beside the checkout")
    from garimpo.cli import main as garimpo
    from garimpo.core import ArtifactStore
    from pipelines.curate import publish_corpus
    from pipelines.recipe import load_recipe
    from pipelines.shards import build_shards
    from pipelines.tokenizer import publish_tokenizer
    from train.config import TrainConfig
    from train.trainer import train

    work = Path(tempfile.mkdtemp(prefix="garimpo-bench-eval-"))
    news = work / "news.jsonl"
    rows = _texts(SHARED / "pt_text" / "porttinari_devtest_docs.jsonl", "text")
    news.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(rows)))
    held = work / "machado.jsonl"
    chapters = _texts(SHARED / "pt_text" / "literature" / "machado_chapters.jsonl", "text_hardwrapped")[1:]
    held.write_text(
        "".join(json.dumps({"text": re.sub(r"(?<!\n)\n(?!\n)", " ", t)}) + "\n" for t in chapters)
    )
    store = ArtifactStore(work / "artifacts")
    corpus = publish_corpus(store, "news", [news], load_recipe().replace(stages=()))
    tokenizer = publish_tokenizer(store, "news", corpus, 2048)
    shards = build_shards(store, "news", corpus, tokenizer)
    cfg = TrainConfig.from_toml("ablation", max_steps=args.steps, device="cpu")
    run = train(cfg, shards.ref, store.root, run_name="bench-eval").run_dir
    argv = ["--artifacts", str(store.root), "eval", "--run", str(run), "--harness", "--json"]
    argv += [
        "--heldout",
        f"machado={held}",
        "--heldout",
        f"bosque={SHARED / 'pt_text' / 'bosque_docs.jsonl'}",
    ]
    argv += ["--enem", f"enem_2024={SHARED / 'instruct' / 'enem_2024_gpt4enem.jsonl'}"]
    argv += ["--max-items", str(args.max_items)]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as out:  # the command's own JSON line, parsed here
        assert garimpo(argv) == 0
    seconds = time.perf_counter() - started
    result = json.loads(out.getvalue())
    enem = result["tasks"]["enem_2024"]
    print(
        json.dumps(
            {
                "eval_seconds": round(seconds, 1),
                "heldout_tokens": sum(v["tokens"] for v in result["bpb"].values()),
                "bpb": {k: round(v["bpb"], 4) for k, v in result["bpb"].items() if v["bpb"] is not None},
                "enem_items": enem["items"],
                "enem_skipped": enem["rejected"],
                "enem_acc": enem["acc"],
                "enem_acc_norm": enem["acc_norm"],
                "harness_acc": enem["harness"]["acc"],
                "harness_acc_norm": enem["harness"]["acc_norm"],
                "harness_same_predictions": enem["harness"]["same_predictions"],
                "cloze": {
                    k: round(v["mean_logprob"], 3)
                    for k, v in result["tasks"].items()
                    if k.startswith("cloze_")
                },
                "contaminated": {
                    k: v["contaminated"] for k, v in result["contamination"].items() if isinstance(v, dict)
                },
                "train_documents_scanned": result["contamination"]["documents_scanned"],
            }
        )
    )


if __name__ == "__main__":
    main()
