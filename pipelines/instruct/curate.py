"""Curate instruction files: read every record, validate it, write kept, rejects and per-rule stats.

Nothing is lost: each record read (a malformed line included) ends in exactly one of
`conversations.jsonl` (normalized schema) or `rejects.jsonl` (the raw record with its reasons), and
`stats.json` counts both so `in == kept + rejected` can be checked. The recipe (a TOML file) says
which languages are wanted, which reader a file uses when auto-detection is not wanted, the license
of each source, and every rule's switch and parameters.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from garimpo.core import ArtifactStore, Manifest
from garimpo.core.settings import config_path, load_settings
from pipelines.instruct.readers import RecordError, iter_records, to_conversation
from pipelines.instruct.validator import Validator

DEFAULT_RECIPE = "instruct"  # the shipped garimpo/configs/recipes/instruct.toml


@dataclass
class InstructRecipe:
    """What an instruction-curation run keeps.

    `sources` maps a file-name glob to `{format, license}` (format omitted: detect per record);
    `rules` maps a rule name to `{enabled, **parameters}` (see `validate.RULE_NAMES`).
    """

    name: str = "instruct"
    languages: list[str] = field(default_factory=lambda: ["pt"])
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def source_options(self, path: Path) -> dict[str, str]:
        """The `sources` entry whose glob matches the file name (first match), or {}."""
        return next((opts for glob, opts in self.sources.items() if fnmatch.fnmatch(path.name, glob)), {})


def load_instruct_recipe(path: str | Path = DEFAULT_RECIPE) -> InstructRecipe:
    """Read an `InstructRecipe`: a shipped name (``instruct``) or a TOML path. Unknown keys are errors
    naming the key and the file, as for every settings file."""
    path = config_path("recipes", path)
    return load_settings(InstructRecipe, path)


def record_id(record: Any, path: Path, number: int) -> str:
    """Stable id of a record: `<file stem>:<its own id>` when it has one, else `<file stem>:<number>`."""
    own = record.get("id") if isinstance(record, dict) else None
    return f"{path.stem}:{own}" if isinstance(own, str | int) and own != "" else f"{path.stem}:{number}"


def curate_instructions(
    inputs: list[Path],
    out_dir: Path,
    recipe: InstructRecipe,
    count_tokens: Callable[[str], int] | None = None,
) -> dict[str, Any]:
    """Curate `inputs` (JSON arrays or JSONL) into `out_dir`; return the stats also written there.

    Writes `conversations.jsonl`, `rejects.jsonl` (`{id, source, reasons, details, record}`) and
    `stats.json` (`documents_in/kept/rejected`, `reasons` counting every reason of every reject,
    `first_reasons` counting one reason per reject so it sums to `documents_rejected`, `repairs`,
    `per_source`, and a `stages` entry in the corpus stats layout of docs/formats.md).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    validator = Validator(recipe.rules, recipe.languages, count_tokens)
    reasons: Counter[str] = Counter()
    first_reasons: Counter[str] = Counter()
    repairs: Counter[str] = Counter()
    per_source: dict[str, dict[str, Any]] = {}
    with (
        open(out_dir / "conversations.jsonl", "w", encoding="utf-8") as kept_file,
        open(out_dir / "rejects.jsonl", "w", encoding="utf-8") as reject_file,
    ):
        for path in map(Path, inputs):
            options = recipe.source_options(path)
            counts = per_source.setdefault(
                path.name, {"in": 0, "kept": 0, "rejected": 0, "reasons": Counter()}
            )
            for number, record in iter_records(path):
                counts["in"] += 1
                rid = record_id(record, path, number)
                try:
                    conv = to_conversation(
                        record,
                        fmt=options.get("format"),
                        source=path.name,
                        license=options.get("license", ""),
                        record_id=rid,
                    )
                    found = validator.check(conv)
                except RecordError as err:
                    found = [(err.reason, err.detail)]
                if found:
                    names = [name for name, _ in found]
                    reasons.update(names)
                    first_reasons[names[0]] += 1
                    counts["reasons"].update(names)
                    counts["rejected"] += 1
                    line = {
                        "id": rid,
                        "source": path.name,
                        "reasons": names,
                        "details": dict(found),
                        "record": None if isinstance(record, RecordError) else record,
                    }
                    reject_file.write(json.dumps(line, ensure_ascii=False) + "\n")
                else:
                    repairs.update(conv.metadata.get("repairs", []))
                    counts["kept"] += 1
                    kept_file.write(json.dumps(conv.to_dict(), ensure_ascii=False) + "\n")
    total_in = sum(c["in"] for c in per_source.values())
    kept = sum(c["kept"] for c in per_source.values())
    rejected = total_in - kept
    stats = {
        "recipe": recipe.name,
        "documents_in": total_in,
        "documents_kept": kept,
        "documents_rejected": rejected,
        "reasons": dict(reasons),
        "first_reasons": dict(first_reasons),
        "repairs": dict(repairs),
        "per_source": {name: {**c, "reasons": dict(c["reasons"])} for name, c in per_source.items()},
        "stages": [
            {
                "stage": "instruct_validate",
                "in": total_in,
                "kept": kept,
                "rejected": rejected,
                "reasons": dict(first_reasons),
                "seconds": round(time.perf_counter() - started, 3),
            }
        ],
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False), encoding="utf-8")
    return stats


def publish_instructions(
    store: ArtifactStore, name: str, inputs: list[Path], recipe: InstructRecipe | None = None
) -> Manifest:
    """Curate instruction files and publish ``instruct/<name>/<version>`` (conversations, rejects, stats)."""
    recipe = recipe or load_instruct_recipe()
    return store.publish(
        "instruct",
        name,
        lambda folder: curate_instructions([Path(p) for p in inputs], folder, recipe) and None,
        config={"inputs": [Path(p).name for p in inputs], "languages": recipe.languages},
    )
