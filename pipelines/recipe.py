"""The curation recipe: every setting the curation stages use, loaded from one TOML file.

A recipe is a user-edited file (the shipped ``garimpo/configs/recipes/pt.toml``, or a copy) rather
than code so that thresholds can be tuned and versioned without touching the stages, and so that a
corpus manifest records exactly what produced it (`Recipe.to_dict`). Each section is a small frozen dataclass whose field names match the
datatrove filter arguments they feed, so a section maps onto its filter without a translation table.
Unknown keys are an error (`garimpo.core.settings`, the one strict loader): a typo in a threshold must not silently fall back to an English default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from garimpo.core.fs import sha256_file
from garimpo.core.settings import config_path, from_dict, read_toml, to_dict

DEFAULT_RECIPE = "pt"  # the shipped garimpo/configs/recipes/pt.toml

STAGES = ("normalize", "boilerplate", "langid", "gopher_repetition", "gopher_quality", "fineweb_quality", "pii", "dedup")
# Stages a recipe may add to its list; they need settings the default recipe does not have.
OPTIONAL_STAGES = ("quality_classifier",)


@dataclass(frozen=True)
class NormalizeSettings:
    """Which text repairs the normalize stage applies."""

    fix_mojibake: bool = True
    unicode_form: str = "NFC"
    remove_invisible: bool = True
    collapse_whitespace: bool = True


@dataclass(frozen=True)
class BoilerplateSettings:
    """Line-level boilerplate removal: the template patterns and per-site repeated lines."""

    template_patterns: bool = True  # the patterns of pipelines/sources/template_lines.py
    site_lines: bool = True
    # A line is a site's boilerplate when it is on at least min_pages pages and min_fraction of the
    # site's pages (the site: metadata `site`, else the url's host, else the document's source).
    min_pages: int = 5
    min_fraction: float = 0.2
    # A curation run counts lines exactly as a map-reduce (pipelines/stages/boilerplate_phases.py). The
    # single-process BoilerplateRemover counts them in a count-min sketch of depth x width uint32 cells
    # (16 MiB as shipped) and recounts exactly only the lines the sketch calls frequent.
    sketch_width: int = 1 << 20
    sketch_depth: int = 4


@dataclass(frozen=True)
class LangIdSettings:
    """lid.176 score a document's top label must reach to be kept, and the optional per-paragraph pass."""

    min_score: float = 0.65
    # Mixed pages: drop lines of another language from documents kept as the recipe's language.
    paragraph_level: bool = False
    min_paragraph_chars: int = 100  # shorter lines are kept unjudged: lid.176 is unreliable on them
    min_kept_fraction: float = 0.5  # of the characters; below it the document is rejected


@dataclass(frozen=True)
class RepetitionSettings:
    """Arguments of datatrove's GopherRepetitionFilter, plus the repeated-n-gram floor."""

    dup_line_frac: float = 0.3
    dup_para_frac: float = 0.3
    dup_line_char_frac: float = 0.2
    dup_para_char_frac: float = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.1),
    )
    min_top_ngram_count: int = 2


@dataclass(frozen=True)
class GopherQualitySettings:
    """Arguments of datatrove's GopherQualityFilter, plus the pt switches of `GopherQuality`."""

    min_doc_words: int = 50
    max_doc_words: int = 100000
    min_avg_word_length: int = 3
    max_avg_word_length: int = 10
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    max_non_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2
    stop_words: tuple[str, ...] = ()
    # pt changes (pipelines/stages/quality.py); these defaults give datatrove's behaviour.
    stop_words_casefold: bool = False
    dialogue_dashes: tuple[str, ...] = ()
    min_ellipsis_lines: int = 1


@dataclass(frozen=True)
class FineWebQualitySettings:
    """Arguments of datatrove's FineWebQualityFilter, plus the pt switches of `FineWebQuality`."""

    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3
    # pt changes (pipelines/stages/quality.py); these defaults give datatrove's behaviour.
    closing_marks: tuple[str, ...] = ()
    inner_sentence_ends: bool = False


@dataclass(frozen=True)
class QualityClassifierSettings:
    """A fastText quality model (DCLM-style); its stage runs only when ``stages`` lists it."""

    model_path: str = ""
    threshold: float = 0.5  # documents scoring below it are rejected as `quality_classifier`
    # Filled in when the recipe is loaded, so that retraining the model at the same path changes the
    # recipe, and with it the content key of every corpus curated with it.
    model_sha256: str = ""


@dataclass(frozen=True)
class PiiSettings:
    """Which personal data the pii stage masks, and with what."""

    emails: bool = True
    phones: bool = True
    cpf: bool = True
    cnpj: bool = True
    ips: bool = True
    email_placeholder: str = "<EMAIL>"
    phone_placeholder: str = "<TELEFONE>"
    cpf_placeholder: str = "<CPF>"
    cnpj_placeholder: str = "<CNPJ>"
    ip_placeholder: str = "<IP>"


@dataclass(frozen=True)
class DedupSettings:
    """Exact and MinHash near-duplicate removal (word n-grams, LSH bands x rows)."""

    exact: bool = True
    near: bool = True
    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 1
    # An LSH candidate counts only when the two signatures agree on at least this share of values
    # (the MinHash estimate of their Jaccard); 0 trusts any shared band, as datatrove does.
    min_similarity: float = 0.0
    # Then, when above 0, the exact word n-gram Jaccard of the two texts must reach this too (against an
    # earlier corpus version, whose texts the stage does not have, the signature agreement must).
    min_jaccard: float = 0.0


@dataclass(frozen=True)
class OutputSettings:
    """How the curated corpus is laid out in parquet files."""

    rows_per_file: int = 50000
    compression: str = "zstd"


@dataclass(frozen=True)
class Recipe:
    """All curation settings for one language."""

    name: str = "pt"
    language: str = "pt"
    word_tokenizer: str = "por"
    stages: tuple[str, ...] = STAGES
    normalize: NormalizeSettings = field(default_factory=NormalizeSettings)
    boilerplate: BoilerplateSettings = field(default_factory=BoilerplateSettings)
    langid: LangIdSettings = field(default_factory=LangIdSettings)
    gopher_repetition: RepetitionSettings = field(default_factory=RepetitionSettings)
    gopher_quality: GopherQualitySettings = field(default_factory=GopherQualitySettings)
    fineweb_quality: FineWebQualitySettings = field(default_factory=FineWebQualitySettings)
    quality_classifier: QualityClassifierSettings = field(default_factory=QualityClassifierSettings)
    pii: PiiSettings = field(default_factory=PiiSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain JSON-able data (what a manifest's ``config`` records)."""
        return to_dict(self)

    def replace(self, **sections: Any) -> Recipe:
        """A copy with whole sections or top-level fields replaced (handy for experiments and tests)."""
        return dataclasses.replace(self, **sections)


def load_recipe(path: str | Path = DEFAULT_RECIPE) -> Recipe:
    """Read a recipe: a shipped name (``pt``) or a TOML path; unknown sections, keys and stage names
    raise ValueError naming them and the file."""
    path = config_path("recipes", path)
    return recipe_from_dict(read_toml(path), origin=str(path))


def recipe_from_dict(data: dict[str, Any], origin: str = "recipe") -> Recipe:
    """Build a Recipe from parsed TOML (or `Recipe.to_dict` output), checking every key."""
    recipe = from_dict(Recipe, data, origin)
    known = STAGES + OPTIONAL_STAGES
    unknown = [s for s in recipe.stages if s not in known]
    if unknown or len(set(recipe.stages)) != len(recipe.stages):
        raise ValueError(f"{origin}: stages {list(recipe.stages)} must be distinct names from {list(known)}")
    return recipe.replace(quality_classifier=_checked_classifier(recipe, origin))


def _checked_classifier(recipe: Recipe, origin: str) -> QualityClassifierSettings:
    """The classifier settings with the model's checksum; a listed stage needs a model and vice versa."""
    settings = recipe.quality_classifier
    listed = "quality_classifier" in recipe.stages
    if not settings.model_path:
        if listed:
            raise ValueError(f"{origin}: stage quality_classifier needs [quality_classifier] model_path")
        return settings
    if not listed:
        raise ValueError(f"{origin}: [quality_classifier] names a model; add 'quality_classifier' to stages")
    path = Path(settings.model_path)
    if not path.is_file():
        raise ValueError(f"{origin}: quality model {path} not found")
    digest = sha256_file(path)
    if settings.model_sha256 and settings.model_sha256 != digest:
        raise ValueError(f"{origin}: quality model {path} changed since this recipe was recorded")
    return dataclasses.replace(settings, model_sha256=digest)
