"""Template lines: the lines a site's template adds to every page, found by pattern, for any text.

Why patterns at all: a main-content extractor (or a scrape already saved as text) still carries the
template's own lines on Portuguese blogs and news sites: "Postado por", "Marcadores:", "Tempo de
leitura", share/subscribe calls, cookie and comment-policy notes, "Leia também" lists, comment
sections. They are the same few phrases on millions of pages, so a pattern finds them where no
per-site statistic can (a site with three pages). The HTML reader applies them to what trafilatura
extracts, and the ``boilerplate`` curation stage (``pipelines/stages/boilerplate.py``) to every
document, whatever format it arrived in.

Only short lines are judged (`MAX_TEMPLATE_LINE_CHARS`): a long line is prose even when it opens with
"Compartilhar". Blank lines are kept, so paragraph breaks survive. ``line_key`` is the normalised
hash that per-site repeated-line counting uses.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

# A line this long is prose, never template furniture; patterns only ever drop shorter lines.
MAX_TEMPLATE_LINE_CHARS = 220

TEMPLATE_LINE = re.compile(
    r"""^\W*(?:\d{1,2}/\d{1,2}/\d{2,4}\W*)?(?:
        postado\ por|publicado\ por|escrito\ por|por\ admin\b|
        (?:postado|publicado)\ em\ \d{1,2}(?:[/.-]\d{1,2}[/.-]\d{2,4}|\ de\ \w+\ de\ \d{4})|
        arquivado\ em|
        tempo\ de\ leitura|
        compartilh(?:e|ar)|partilh(?:e|ar)|(?:enviar\ por\ e-?mail|imprimir)\W*$|
        assine\ (?:nossa|o\ nosso|já|agora|a\ newsletter)|inscreva-se|cadastre-se|
        receba\ (?:em\ seu|no\ seu|nossas?|as\ novidades)|siga-nos|curta\ nossa|
        (?:este|nosso)\ site\ (?:usa|utiliza)\ cookies|utilizamos\ cookies|usamos\ cookies|
        aceitar\ (?:todos\ os\ )?cookies|pol[ií]tica\ de\ (?:privacidade|cookies)|newsletter|
        aten[çc][ãa]o:\ coment[áa]rios|
        deixe\ (?:suas?|seus?|um|uma|o\ seu|a\ sua)\ (?:coment|d[úu]vida|opini|resposta|recado|mensagem)|
        obrigad[oa]\ por\ (?:compartilhar|ler)|
        ocorreu\ um\ erro|an\ error\ (?:has\ )?occurred|this\ article\ has\ been\ sent|
        todos\ os\ direitos\ reservados|copyright|©|
        read\ more:|click\ here|subscribe\ to|all\ rights\ reserved|order\ reprints|print\ article
    )""",
    re.IGNORECASE | re.VERBOSE,
)

# Lists of labels ("Tags: a, b, c"; "Tagsa, b" when the template glues them) at any length.
LABEL_LIST_LINE = re.compile(r"^\W*(?:marcadores|tags?|categorias?)\s*:|^tags(?=\w)", re.IGNORECASE)
# A label heading alone on its line: the list of labels follows on the next line.
LABEL_HEADING = re.compile(r"^\W*(?:marcadores|tags?|categorias?|etiquetas|palavras-chave)\W*$", re.I)

# Headings that open a list of links to other posts: the heading and the short lines after it go. The
# heading stands alone or before ":", a dash or "|" ("Leia também: ..."), never inside a sentence
# ("leia mais. Vá envelhecendo" in a hard-wrapped novel).
RELATED_HEADING = re.compile(
    r"^\W*(?:leia\ (?:também|mais)|veja\ (?:também|mais)|posts?\ relacionad[oa]s|"
    r"artigos\ relacionados|not[íi]cias\ relacionadas|mais\ lidas|você\ (?:também\ )?pode\ gostar)"
    r"\s*(?:$|[:|»>–—-])",
    re.IGNORECASE,
)

# Comment sections start here; from the marker on, the page is other people's comments.
COMMENTS_START = re.compile(
    r"^\W*(?:\d+\s+coment[áa]rios?|nenhum\ coment[áa]rio|postar\ um\ coment[áa]rio|"
    r"coment[áa]rios?\s*(?:\(\d+\))?\s*:?\s*$|deixe\ uma\ resposta|deixe\ (?:um|seu)\ coment[áa]rio|"
    r"\d+\s+comments?|comments?\s*(?:\(\d+\))?\s*:?\s*$|tell\ us\ what\ you\ think|leave\ a\ (?:reply|comment))",
    re.IGNORECASE | re.VERBOSE,
)

# A date stamp glued to the front of the first paragraph by the template
# ("sexta-feira, 22 de outubro de 2010 às 20:13Nesta página ...").
LEADING_DATE = re.compile(
    r"^(?:(?:segunda|terça|quarta|quinta|sexta)-feira|sábado|domingo),?\s+\d{1,2}\s+de\s+\w+\s+de\s+\d{4}"
    r"(?:\s*(?:às|-)\s*\d{1,2}[:h]\d{2})?\s*",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?:;…\"”)]$")
# A label list inside a byline ("05/10/2018 - Publicado por: Ana - Tags: saúde") and the one to three
# short words a list spills onto the next lines.
_LABELS_INSIDE = re.compile(r"\s[-|•]\s*(?:tags|marcadores)\s*:", re.IGNORECASE)
_LABEL_WORDS = re.compile(r"^[\w-]+(?:[ ,]+[\w-]+){0,2},?$")


# The site name a page title carries after its own: "Receita | Blog", "Post - Site", "Post — Site".
_TITLE_SUFFIX = re.compile(r"\s+[|—–-]\s+")


def same_words(a: str, b: str) -> bool:
    """True when two strings hold the same words, ignoring case and punctuation."""
    return re.findall(r"\w+", a.lower()) == re.findall(r"\w+", b.lower())


def is_template_line(line: str) -> bool:
    """True for one line a Portuguese (or English) site template adds: what `remove_template_lines`
    drops line by line, without the context rules (related lists, comment sections, title)."""
    line = line.strip()
    return bool(
        line
        and (
            (len(line) <= MAX_TEMPLATE_LINE_CHARS and (TEMPLATE_LINE.match(line) or LABEL_HEADING.match(line)))
            or LABEL_LIST_LINE.match(line)
        )
    )


def remove_template_lines(text: str, title: str | None = None) -> tuple[str, int]:
    """The text without template lines, related-post lists and comment sections; and how many
    non-blank lines were removed.

    The title repeated as the first line is dropped too (it belongs in metadata, not in the body), and
    a date stamp glued to the front of the first kept line is cut. Blank lines stay where they were
    (runs of them collapse to one), so paragraphs survive.
    """
    lines = [line.strip() for line in text.split("\n")]
    content = [i for i, line in enumerate(lines) if line]
    drop: set[int] = set()
    if content and title and same_words(lines[content[0]], _TITLE_SUFFIX.split(title)[0]):
        drop.add(content[0])
    in_related = False
    in_labels: str | bool = False  # "heading": a label heading came last; "list": a label list did
    for rank, index in enumerate(content):
        if index in drop:
            continue
        line = lines[index]
        short = len(line) <= MAX_TEMPLATE_LINE_CHARS
        # Only the second half of a page can open its comment section.
        if short and rank >= len(content) // 2 and COMMENTS_START.match(line):
            drop.update(content[rank:])
            break
        if in_labels:
            # A label list can run onto the next lines: "Tags: sad" then "arrombamento", "veiculo".
            if not _SENTENCE_END.search(line) and (in_labels == "heading" or _LABEL_WORDS.match(line)):
                in_labels = "list"
                drop.add(index)
                continue
            in_labels = False
        if short and RELATED_HEADING.match(line):
            in_related = True
            drop.add(index)
            continue
        if in_related:
            if len(line) <= 120 and not _SENTENCE_END.search(line):
                drop.add(index)
                continue
            in_related = False
        if short and LABEL_HEADING.match(line):
            in_labels = "heading"
            drop.add(index)
            continue
        if LABEL_LIST_LINE.match(line) or (short and _LABELS_INSIDE.search(line)):
            in_labels = "list"
            drop.add(index)
        elif short and TEMPLATE_LINE.match(line):
            drop.add(index)
    kept = [line for i, line in enumerate(lines) if i not in drop]
    first = next((i for i, line in enumerate(kept) if line), None)
    if first is not None:
        kept[first] = LEADING_DATE.sub("", kept[first])
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return cleaned, len(drop)


def site_of(url: str | None, fallback: str) -> str:
    """The site a page belongs to: its host without ``www.``, else ``fallback``."""
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:  # "http://[::1" and other URLs urllib cannot split
        host = None
    return host.removeprefix("www.") if host else fallback


def line_key(line: str) -> bytes:
    """8-byte hash of a line with case, spacing and digits normalised: "12 comentários" on one page
    and "3 comentários" on another are the same template line."""
    normalised = re.sub(r"\d+", "0", " ".join(line.lower().split()))
    return hashlib.blake2b(normalised.encode("utf-8", "surrogatepass"), digest_size=8).digest()
