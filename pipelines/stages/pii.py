"""PII stage: mask e-mail addresses, Brazilian phone numbers, CPF, CNPJ and public IP addresses.

A language model should not learn to recite someone's CPF or phone number. Each kind is matched by a
regular expression and replaced by the recipe's placeholder (``<CPF>``, ``<TELEFONE>``, ...); counts per
kind go to ``metadata["pii"]``. CPF and CNPJ are masked only when both check digits validate, so an
invoice number or a random run of 11 digits stays as written; IPs only when public (datatrove's
`public_ip_validator`, the rule of its PIIFormatter). Documents are never dropped here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.formatters.pii import public_ip_validator
from datatrove.utils.typeshelper import StatHints

from pipelines.recipe import PiiSettings

# Each pattern opens with a lookahead for the characters a match can start with: it changes no match,
# but lets `re` jump between candidate characters instead of trying every position (3-5x faster).
EMAIL = re.compile(
    r"(?=[A-Za-z0-9._%+-])\b[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\b"
)
CNPJ = re.compile(r"(?=\d)(?<![\d./-])\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}(?![\d-]|[./]\d)")
CPF = re.compile(r"(?=\d)(?<![\d./-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\d-]|[./]\d)")
# With area code: "(11) 98765-4321", "+55 11 3456-7890", "+55 (21) 9 8765 4321"; without: a mobile
# "98765-4321". A bare "11 3456 7890" is too close to other numbers to mask without the "+55" or parentheses.
PHONE = re.compile(
    r"(?=[+(9])(?:(?<![\w+])(?:(?:\+55[ .-]?)?\(\d{2}\)[ .-]?|\+55[ .-]?\d{2}[ .-]?)(?:9[ .-]?)?\d{4}[ .-]?\d{4}(?!\d)"
    r"|(?<![\w/.-])9\d{4}-\d{4}(?![\w-]))"
)
IPV4 = re.compile(
    r"(?=\d)(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.]|\.\d)"
)


def _digits(s: str) -> list[int]:
    return [int(c) for c in s if c.isdigit()]


def _check_digit(digits: list[int], weights: list[int]) -> int:
    rest = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if rest < 2 else 11 - rest


def valid_cpf(s: str) -> bool:
    """True when an 11-digit CPF's two check digits are right (and it is not one digit repeated)."""
    d = _digits(s)
    if len(d) != 11 or len(set(d)) == 1:
        return False
    return d[9] == _check_digit(d[:9], list(range(10, 1, -1))) and d[10] == _check_digit(
        d[:10], list(range(11, 1, -1))
    )


def valid_cnpj(s: str) -> bool:
    """True when a 14-digit CNPJ's two check digits are right (and it is not one digit repeated)."""
    d = _digits(s)
    if len(d) != 14 or len(set(d)) == 1:
        return False
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    return d[12] == _check_digit(d[:12], w1) and d[13] == _check_digit(d[:13], [6, *w1])


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    placeholder: str
    valid: Callable[[str], bool] | None = None
    needs: str = ""  # a substring every match holds: texts without it skip the pattern


class PIIRedactor(PipelineStep):
    """Replaces personal data with placeholders and counts what it replaced per kind."""

    name = "🕵️ PII (pt-BR)"
    type = "✂️ - FORMAT"

    def __init__(self, settings: PiiSettings | None = None) -> None:
        super().__init__()
        s = settings or PiiSettings()
        # Order matters: e-mails first (they contain digits), CNPJ before CPF (longer), phones before IPs.
        candidates = [
            (s.emails, _Rule("email", EMAIL, s.email_placeholder, needs="@")),
            (s.cnpj, _Rule("cnpj", CNPJ, s.cnpj_placeholder, valid_cnpj)),
            (s.cpf, _Rule("cpf", CPF, s.cpf_placeholder, valid_cpf)),
            (s.phones, _Rule("phone", PHONE, s.phone_placeholder)),
            (s.ips, _Rule("ip", IPV4, s.ip_placeholder, public_ip_validator)),
        ]
        self.rules = [rule for enabled, rule in candidates if enabled]

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """The text with PII replaced, and how many of each kind were replaced (non-zero kinds only)."""
        counts: dict[str, int] = {}
        for rule in self.rules:
            if rule.needs and rule.needs not in text:
                continue

            def replace(m: re.Match[str], rule: _Rule = rule) -> str:
                if rule.valid and not rule.valid(m.group(0)):
                    return m.group(0)
                counts[rule.kind] = counts.get(rule.kind, 0) + 1
                return rule.placeholder

            text = rule.pattern.sub(replace, text)
        return text, counts

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update(StatHints.total)
            with self.track_time():
                doc.text, counts = self.redact(doc.text)
            doc.metadata["pii"] = counts
            for kind, n in counts.items():
                self.stat_update(f"masked_{kind}", value=n)
            yield doc
