"""A deterministic junk corpus: what a Portuguese curation run must drop, generated, no data files.

The quality and language filters are tuned on real Portuguese so that they keep it; this corpus is the
other side of that bargain. It holds the usual junk of a web crawl (menus and footers, keyword spam,
lorem ipsum, code dumps, tables of numbers, mojibake that no decoder repairs) and real running text in
the languages that sit closest to Portuguese or are most common on the web (Spanish, Galician, English,
Italian, French). The same seed gives the same documents, so a test can assert how much is dropped.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

_MENU_ITEMS = [
    "Início",
    "Notícias",
    "Esportes",
    "Política",
    "Economia",
    "Cultura",
    "Contato",
    "Sobre nós",
    "Entrar",
    "Cadastre-se",
    "Assine",
    "Blog",
    "Loja",
    "Carrinho",
    "Minha conta",
    "Ajuda",
    "Termos de uso",
    "Política de privacidade",
    "Mapa do site",
    "Anuncie",
    "Trabalhe conosco",
    "Newsletter",
    "Busca",
]
_FOOTER = [
    "© 2024 Todos os direitos reservados.",
    "Siga-nos no Facebook, Instagram e Twitter",
    "Aceitar cookies",
    "Voltar ao topo",
    "Compartilhe:",
    "Leia também",
]
_KEYWORDS = [
    "comprar tênis barato",
    "tênis nike promoção",
    "frete grátis",
    "melhor preço",
    "oferta imperdível",
    "desconto",
    "loja online",
    "tênis masculino",
    "tênis feminino",
    "black friday",
    "cupom de desconto",
    "entrega rápida",
    "parcelamento sem juros",
    "tênis adidas",
    "tênis de corrida",
]
_LOREM_TEXT = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip "
    "ex ea commodo consequat duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
    "fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt in culpa qui officia deserunt "
    "mollit anim id est laborum"
)
_LOREM = _LOREM_TEXT.split()
_IDENTIFIERS = ["usuario", "pedido", "valor", "total", "item", "lista", "config", "dados", "resultado", "i"]
_CODE_LINES = [
    "def {a}({b}):",
    "    return {a}.get('{b}', {n})",
    "for {a} in range({n}):",
    "    {b} += {a} * {n}",
    "if ({a} > {n}) {{ {b} = {a}; }}",
    "const {a} = require('{b}');",
    "SELECT {a}, {b} FROM pedidos WHERE id = {n};",
    '<div class="{a}"><span>{b}</span></div>',
    "import {a}",
    "{a}[{n}] = {b}({n})",
]
# Real running text, a few sentences per language, recombined into documents.
_SENTENCES = {
    "es": [
        "El ayuntamiento aprobó ayer el presupuesto para el próximo año con los votos de la mayoría.",
        "Los vecinos del barrio se quejan desde hace meses del ruido de las obras en la calle principal.",
        "La empresa anunció que contratará a cien trabajadores más antes del verano.",
        "Según los expertos, la sequía afectará a la cosecha de trigo en todo el país.",
        "El equipo local ganó el partido en los últimos minutos gracias a un gol de cabeza.",
        "Las autoridades recomiendan no salir de casa durante las horas de más calor.",
        "El museo abrirá sus puertas de forma gratuita el primer domingo de cada mes.",
        "La nueva línea de autobús unirá el centro de la ciudad con el aeropuerto.",
    ],
    "gl": [
        "O concello aprobou onte o orzamento para o vindeiro ano cos votos da maioría.",
        "Os veciños do barrio quéixanse dende hai meses do ruído das obras na rúa principal.",
        "A empresa anunciou que contratará cen traballadores máis antes do verán.",
        "Segundo os expertos, a seca afectará á colleita de millo en toda Galiza.",
        "O equipo local gañou o partido nos últimos minutos grazas a un gol de cabeza.",
        "As autoridades recomendan non saír da casa durante as horas de máis calor.",
        "O museo abrirá as súas portas de balde o primeiro domingo de cada mes.",
        "A nova liña de autobús unirá o centro da cidade co aeroporto de Lavacolla.",
    ],
    "en": [
        "The city council approved the budget for next year with the votes of the majority.",
        "Residents of the neighbourhood have complained for months about the noise from the works.",
        "The company announced that it will hire a hundred more workers before the summer.",
        "According to experts, the drought will affect the wheat harvest across the country.",
        "The home team won the match in the final minutes thanks to a late header.",
        "The authorities advise people not to leave their homes during the hottest hours.",
        "The museum will open its doors free of charge on the first Sunday of every month.",
        "The new bus line will connect the city centre with the airport.",
    ],
    "it": [
        "Il consiglio comunale ha approvato ieri il bilancio per il prossimo anno.",
        "Gli abitanti del quartiere si lamentano da mesi del rumore dei lavori nella via principale.",
        "L'azienda ha annunciato che assumerà cento lavoratori in più prima dell'estate.",
        "Secondo gli esperti, la siccità colpirà il raccolto di grano in tutto il paese.",
        "La squadra di casa ha vinto la partita negli ultimi minuti grazie a un colpo di testa.",
        "Le autorità consigliano di non uscire di casa durante le ore più calde.",
        "Il museo aprirà gratuitamente le sue porte la prima domenica di ogni mese.",
        "La nuova linea di autobus collegherà il centro della città con l'aeroporto.",
    ],
    "fr": [
        "Le conseil municipal a approuvé hier le budget de l'année prochaine à la majorité.",
        "Les habitants du quartier se plaignent depuis des mois du bruit des travaux dans la rue principale.",
        "L'entreprise a annoncé qu'elle embauchera cent salariés de plus avant l'été.",
        "Selon les experts, la sécheresse touchera la récolte de blé dans tout le pays.",
        "L'équipe locale a gagné le match dans les dernières minutes grâce à un but de la tête.",
        "Les autorités recommandent de ne pas sortir pendant les heures les plus chaudes.",
        "Le musée ouvrira gratuitement ses portes le premier dimanche de chaque mois.",
        "La nouvelle ligne de bus reliera le centre-ville à l'aéroport.",
    ],
}


def _menu(rng: random.Random) -> str:
    lines = [" | ".join(rng.sample(_MENU_ITEMS, rng.randint(4, 8))) for _ in range(rng.randint(2, 5))]
    lines += rng.sample(_MENU_ITEMS, rng.randint(3, 8)) + rng.sample(_FOOTER, rng.randint(2, 4))
    rng.shuffle(lines)
    return "\n".join(lines)


def _keyword_spam(rng: random.Random) -> str:
    phrases = [rng.choice(_KEYWORDS) for _ in range(rng.randint(15, 60))]
    sep = rng.choice([" ", ", ", " - ", "\n"])
    return sep.join(phrases)


def _lorem(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 4)):
        sentences = []
        for _ in range(rng.randint(3, 7)):
            words = [rng.choice(_LOREM) for _ in range(rng.randint(6, 15))]
            sentences.append(" ".join(words).capitalize() + ".")
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def _code(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(8, 40)):
        a, b = rng.sample(_IDENTIFIERS, 2)
        lines.append(rng.choice(_CODE_LINES).format(a=a, b=b, n=rng.randint(0, 999)))
    return "\n".join(lines)


def _table(rng: random.Random) -> str:
    cols = rng.randint(3, 8)
    sep = rng.choice([" ", "\t", " | ", ";"])
    header = sep.join(rng.choice(["Ano", "Mês", "Valor", "Total", "Código", "Qtd", "%"]) for _ in range(cols))
    rows = [
        sep.join(rng.choice([f"{rng.uniform(0, 9999):.2f}", str(rng.randint(0, 99999))]) for _ in range(cols))
        for _ in range(rng.randint(5, 40))
    ]
    return "\n".join([header, *rows])


def _mojibake(rng: random.Random) -> str:
    # Random bytes read with the wrong code page, twice: the damage no encoding repair can undo.
    words = []
    for _ in range(rng.randint(30, 150)):
        raw = bytes(rng.randint(0x80, 0xFF) for _ in range(rng.randint(2, 8)))
        words.append(raw.decode("latin-1").encode("utf-8").decode("cp1252", errors="replace"))
    return " ".join(words)


def _other_language(lang: str):
    def make(rng: random.Random) -> str:
        n = rng.randint(3, 8)
        sentences = [rng.choice(_SENTENCES[lang]) for _ in range(n)]
        return " ".join(dict.fromkeys(sentences))

    return make


GENERATORS = {
    "menu": _menu,
    "keyword_spam": _keyword_spam,
    "lorem_ipsum": _lorem,
    "code": _code,
    "number_table": _table,
    "mojibake": _mojibake,
    **{f"lang_{lang}": _other_language(lang) for lang in _SENTENCES},
}


def junk_documents(per_kind: int = 50, seed: int = 0) -> Iterator[dict[str, str]]:
    """``per_kind`` junk records (``id``, ``text``, ``source`` = the kind) of every kind, in a fixed order."""
    for kind, make in GENERATORS.items():
        rng = random.Random(f"{seed}:{kind}")
        for i in range(per_kind):
            yield {"id": f"junk-{kind}-{i}", "text": make(rng), "source": kind}
