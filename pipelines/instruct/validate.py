"""Validation rules for instruction data: each rule has a name, parameters and a switch.

A rule looks at one `Conversation` and returns None (fine) or a short detail saying what it saw;
the rule's name is the reject reason, so stats count rejects per rule. Rules are collected, not
short-circuited, so a reject lists every reason at once. Two rules repair instead of reject when
configured so (`special_tokens` with policy "escape"); repairs are recorded in
`conv.metadata["repairs"]`. Duplicates are judged last and only among records that passed every
other rule, so a bad copy never shadows a good one. The two rules that need state (a language model,
the prompts seen so far) and the `Validator` that runs them all are in `validator.py`.

The defaults are tuned on the defects catalogued for public Alpaca/GSM8K/LLaMA-Factory/ENEM data
(see docs/instruct.md) and speak Portuguese as well as English: refusal phrases, pointers to
unseen content ("o texto abaixo") and dangling words at a cut-off answer exist in both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from difflib import SequenceMatcher

from garimpo.core.formats import SPECIAL_TOKENS
from pipelines.instruct.schema import Conversation

Detail = str | None


def texts_of(conv: Conversation) -> list[str]:
    texts = [conv.system or ""]
    for turn in conv.turns:
        texts += [turn.text, turn.thinking or ""]
    return [t for t in texts if t]


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def empty_answer(conv: Conversation) -> Detail:
    """An assistant (or user) turn that is empty or only whitespace."""
    for i, turn in enumerate(conv.turns):
        if not turn.text.strip():
            return f"empty {turn.role} turn {i}"
    return None


# Words that cannot end a sentence in en or pt. Prepositions that English lets a sentence end on
# ("someone to connect with") are left out on purpose.
DANGLING_WORDS = "the an and or of de da do das dos um uma com para e ou"
CODE_RE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def truncated(conv: Conversation, min_chars: int = 40, dangling_words: str = DANGLING_WORDS) -> Detail:
    """An answer cut off: unclosed code fence, more opening than closing brackets, or a last word
    that cannot end a sentence (article, preposition, conjunction) or a trailing comma/colon.

    Ending without a period is not enough: lists, code and one-word answers legitimately do.
    Brackets inside code are not counted (code may hold a lone "(" in a string).
    """
    dangling = set(dangling_words.split())
    for turn in conv.assistant_turns():
        text = turn.text.rstrip()
        if text.count("```") % 2:
            return "unclosed code fence"
        prose = CODE_RE.sub(" ", text)
        for opener, closer in ("()", "[]", "{}"):
            if prose.count(opener) > prose.count(closer):
                return f"unbalanced {opener}{closer}"
        if len(text) >= min_chars:
            if text[-1] in ",:":
                return f"ends with {text[-1]!r}"
            last = re.findall(r"(?:^|\s)(\w+)$", text)
            if last and last[0].lower() in dangling:
                return f"ends mid-sentence at {last[0]!r}"
    return None


NO_INPUT_RE = re.compile(
    r"^\W*(no\s*-?\s*input(\s+(is\s+)?(needed|required|provided|given))?|no[\s_-]*n?put|ninput|n/?a|none|nil|"
    r"null|empty|sem entrada|nenhuma entrada|não há entrada)\W*$",
    re.I,
)
TAG_RE = re.compile(r"<\s*no[\s_-]*(input|output)\s*>", re.I)
TEMPLATE_RE = re.compile(
    r"\{\{\s*[\w.]+\s*\}\}|\[\[\s*placeholder\s*\]\]|\[\s*(insert|inserir|insira)\b[^\]]*\]", re.I
)


def placeholder(conv: Conversation) -> Detail:
    """Template or dataset-marker leftovers: a user paragraph that only says "no input"
    (`<noinput>`, `No input`, `N/A`, …), a `<No Input>`/`<No Output>` tag anywhere, an unrendered
    `{{name}}`, `[[placeholder]]` or `[insert …]`."""
    for text in conv.user_texts():
        for paragraph in _paragraphs(text):
            if NO_INPUT_RE.match(paragraph):
                return f"no-input marker {paragraph[:30]!r}"
    for text in texts_of(conv):
        match = TAG_RE.search(text) or TEMPLATE_RE.search(text)
        if match:
            return f"placeholder {match.group(0)!r}"
    return None


# Bounded repeats: an unbounded `[^\]]*` is quadratic on a long run of "[[[[".
URL_RE = re.compile(r"!?\[[^\]\n]{0,500}\]\([^)\s]{0,2000}\)|\bhttps?://\S+|\bwww\.\S+", re.I)
MEDIA_TAG_RE = re.compile(
    r"<[^<>\n]{0,30}\b(image|picture|photo|video|audio|file|attachment|imagem|foto|vídeo|arquivo)\b[^<>\n]{0,30}>",
    re.I,
)
POINTER_RE = re.compile(
    r"\b(the|this|these) (following|attached|given|above|below) (\w+ ){0,2}"
    r"(article|text|passage|story|photo|image|picture|painting|video|spreadsheet|web ?page|website|link|"
    r"document|paragraph|table|chart|graph|audio|recording|song|poem|e-?mail|art ?piece|artwork|cartoon|map|"
    r"cable|data|file)s?\b"
    r"|\b(o|a|os|as) (seguinte |seguintes )?(texto|artigo|imagem|foto|figura|tabela|gráfico|documento|link|poema|"
    r"e-?mail|vídeo|mapa|charge|notícia|reportagem)s? ?(abaixo|a seguir|anexad[oa]|acima)?\b",
    re.I,
)


def unseen_content(conv: Conversation, max_label_words: int = 3, max_words_after_pointer: int = 8) -> Detail:
    """A prompt that points at content the model never sees: a paragraph that is only a URL (or a
    markdown image), a media tag such as `<image attached>`, a pointer ("the following article",
    "o texto abaixo") with nothing after it, or a record flagged as needing images."""
    if conv.metadata.get("needs_images"):
        return "question needs images that are not in the text"
    for text in conv.user_texts():
        for paragraph in _paragraphs(text):
            rest = URL_RE.sub(" ", paragraph)
            if rest != paragraph and len(re.findall(r"\w+", rest)) <= max_label_words:
                return f"URL-only input {paragraph[:60]!r}"
        media = MEDIA_TAG_RE.search(text)
        if media:
            return f"media tag {media.group(0)!r}"
        if len(_paragraphs(text)) == 1:
            pointer = POINTER_RE.search(text)
            if pointer and _points_at_nothing(text[pointer.end() :], max_words_after_pointer):
                return f"points at unseen {pointer.group(0)!r}"
    return None


def _points_at_nothing(after: str, max_words: int) -> bool:
    # Content that follows a colon or sits in quotes is the referent itself, not a pointer.
    return not re.search(r"[:\"“'«]", after) and len(re.findall(r"\w+", after)) <= max_words


MERGED_RE = re.compile(r"^\s*\d+\s*\.\s*(instruction|instrução)\s*:", re.I | re.M)


def merged_instructions(conv: Conversation) -> Detail:
    """Another generated example leaking into an answer (`\n##\n8. Instruction: …` in Alpaca)."""
    for turn in conv.assistant_turns():
        match = MERGED_RE.search(turn.text)
        if match:
            return f"leaked {match.group(0).strip()!r}"
    return None


MOJIBAKE_RE = re.compile(r"[ÃÂ][\u0080-\u00bf]|â€[\u0080-\u00bf™œ\u009d˜“”]|\ufffd")


def mojibake(conv: Conversation, min_hits: int = 1) -> Detail:
    """UTF-8 read as Latin-1/CP1252 (`Ã§Ã£o` for `ção`, `â€™` for `’`) or replacement characters."""
    for text in texts_of(conv):
        hits = MOJIBAKE_RE.findall(text)
        if len(hits) >= min_hits:
            return f"mojibake {''.join(hits[:4])!r}"
    return None


def control_characters(conv: Conversation) -> Detail:
    """Control characters other than newline, tab and carriage return (a NUL, an escape sequence):
    binary debris that no tokenizer should learn to produce."""
    for text in texts_of(conv):
        bad = sorted(
            {f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t\r"}
        )
        if bad:
            return "control characters " + ", ".join(bad[:5])
    return None


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", text))


def repeats_question(conv: Conversation, min_ratio: float = 0.95, max_chars: int = 20_000) -> Detail:
    """An answer that only restates its question (same words, or nearly the same characters).

    The character ratio is quadratic in the text length, so it runs only when the lengths allow a
    ratio of ``min_ratio`` at all (ratio <= 2 * shorter / total) and both texts are under
    ``max_chars``; longer texts count only when identical.
    """
    for user, assistant in zip(conv.turns[::2], conv.turns[1::2], strict=False):
        question, answer = normalize_text(user.text), normalize_text(assistant.text)
        if not answer:
            continue
        if answer == question:
            return "answer repeats the question"
        total = len(question) + len(answer)
        if 2 * min(len(question), len(answer)) < min_ratio * total or max(len(question), len(answer)) > max_chars:
            continue
        matcher = SequenceMatcher(None, question, answer, autojunk=False)
        if matcher.quick_ratio() >= min_ratio and matcher.ratio() >= min_ratio:
            return "answer repeats the question"
    return None


REFUSALS = (
    "as an ai language model",
    "as a language model",
    "i'm sorry, but as an ai",
    "i am sorry, but as an ai",
    "as an ai assistant, i cannot",
    "como um modelo de linguagem",
    "como modelo de linguagem",
    "como uma inteligência artificial, eu não",
    "como uma ia, eu não",
    "sou apenas um modelo de linguagem",
)


def refusal(conv: Conversation, phrases: list[str] | tuple[str, ...] = REFUSALS) -> Detail:
    """Boilerplate refusals and self-descriptions ("As an AI language model", "Como um modelo de
    linguagem"): they teach a model to refuse instead of answer."""
    for turn in conv.assistant_turns():
        lowered = turn.text.casefold().replace("’", "'")
        for phrase in phrases:
            if phrase.casefold() in lowered:
                return f"refusal {phrase!r}"
    return None


FINAL_NUMBER_RE = re.compile(r"####\s*\$?\s*-?[\d,]*\.?\d+\s*$")


def gsm8k_answer(conv: Conversation, formats: list[str] | tuple[str, ...] = ("gsm8k",)) -> Detail:
    """A GSM8K-style answer must end with `#### <number>` (how the benchmark grades it)."""
    if conv.metadata.get("format") in formats and not FINAL_NUMBER_RE.search(conv.turns[-1].text):
        return "no final '#### <number>' answer"
    return None


THINK_TAG_RE = re.compile(r"</?think>", re.I)


def thinking_tags(conv: Conversation) -> Detail:
    """`<think>`/`</think>` left in a text after the reader split off a well-formed trace means the
    tags are unbalanced, nested or misplaced."""
    for text in texts_of(conv):
        match = THINK_TAG_RE.search(text)
        if match:
            return f"stray {match.group(0)} tag"
    return None


SPECIAL_TOKEN_RE = re.compile("|".join(re.escape(token) for token in SPECIAL_TOKENS))


def escape_special_tokens(text: str) -> str:
    """Make literal special-token strings harmless: `<|answer|>` → `< |answer|>`."""
    return SPECIAL_TOKEN_RE.sub(lambda m: "< |" + m.group(0)[2:], text)


def special_tokens(conv: Conversation, policy: str = "escape") -> Detail:
    """Literal special-token strings (`<|endoftext|>`, `<|query|>`, `<|reserved_3|>`, …) in any text.

    The renderer never parses them as control tokens, but a model trained on the literal strings
    learns to print them; "escape" rewrites them in place (kept, counted as a repair), "reject"
    drops the record.
    """
    if policy not in ("escape", "reject"):
        raise ValueError(f"special_tokens policy must be 'escape' or 'reject', got {policy!r}")
    found = next((m.group(0) for t in texts_of(conv) for m in [SPECIAL_TOKEN_RE.search(t)] if m), None)
    if found is None:
        return None
    if policy == "reject":
        return f"literal special token {found!r}"
    conv.system = escape_special_tokens(conv.system) if conv.system else conv.system
    for turn in conv.turns:
        turn.text = escape_special_tokens(turn.text)
        turn.thinking = escape_special_tokens(turn.thinking) if turn.thinking else turn.thinking
    conv.metadata.setdefault("repairs", []).append("special_tokens")
    return None


def length(
    conv: Conversation,
    max_chars: int = 24_000,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> Detail:
    """A conversation longer than the context window: characters, or tokens when a counter is given."""
    text = "\n".join(texts_of(conv))
    if len(text) > max_chars:
        return f"{len(text)} chars > {max_chars}"
    if max_tokens is not None and count_tokens is not None:
        n = count_tokens(text)
        if n > max_tokens:
            return f"{n} tokens > {max_tokens}"
    return None


SIMPLE_RULES: dict[str, Callable[..., Detail]] = {
    "empty_answer": empty_answer,
    "special_tokens": special_tokens,
    "placeholder": placeholder,
    "unseen_content": unseen_content,
    "truncated": truncated,
    "merged_instructions": merged_instructions,
    "mojibake": mojibake,
    "control_characters": control_characters,
    "thinking_tags": thinking_tags,
    "gsm8k_answer": gsm8k_answer,
    "refusal": refusal,
    "repeats_question": repeats_question,
    "length": length,
}
# The validator's stateful rules (validator.py) come after the simple ones.
RULE_NAMES = (*SIMPLE_RULES, "language", "duplicate")
