"""Wikipedia dump reader on a tiny dump built here: articles kept as prose, everything else rejected."""

from __future__ import annotations

import bz2

from pipelines.sources.readers import SourceSpec, is_rejection, read_source

NS = "http://www.mediawiki.org/xml/export-0.11/"


def _page(page_id: int, title: str, ns: int, text: str, redirect: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    redirect_tag = f'<redirect title="{title}x" />' if redirect else ""
    return (
        f"<page><title>{title}</title><ns>{ns}</ns><id>{page_id}</id>{redirect_tag}"
        f"<revision><id>{page_id}0</id><text>{text}</text></revision></page>"
    )


ARTICLE = """{{Info/Cidade|nome=Ouro Preto|população=74 mil}}
'''Ouro Preto''' é um [[município]] de [[Minas Gerais|Minas]].<ref>{{citar web|url=http://x}}</ref>
== História ==
{| class="wikitable"
| 1711 || fundação
|}
Foi capital da província até 1897.
[[Ficheiro:Ouro Preto.jpg|thumb|Vista]]
[[Categoria:Municípios de Minas Gerais]]"""


def test_tiny_dump(tmp_path):
    pages = [
        _page(1, "Ouro Preto", 0, ARTICLE),
        _page(2, "Vila Rica", 0, "#REDIRECIONAMENTO [[Ouro Preto]]", redirect=True),
        _page(3, "Predefinição:Info/Cidade", 10, "{{{nome}}}"),
        _page(4, "Vazio", 0, "{{esboço}}"),
    ]
    dump = f'<mediawiki xmlns="{NS}"><siteinfo><sitename>Wikipédia</sitename></siteinfo>{"".join(pages)}</mediawiki>'
    path = tmp_path / "ptwiki-pages-articles.xml.bz2"
    path.write_bytes(bz2.compress(dump.encode("utf-8")))
    records = list(read_source(SourceSpec(str(path), "wiki", "ptwiki", license="CC BY-SA 4.0")))
    assert [r.get("reason") for r in records] == [
        None,
        "redirect",
        "not an article namespace",
        "empty document",
    ]
    article = records[0]
    assert article["id"] == "ptwiki/ptwiki-pages-articles.xml.bz2#1"
    assert article["metadata"]["title"] == "Ouro Preto" and article["metadata"]["license"] == "CC BY-SA 4.0"
    assert (
        article["text"]
        == "Ouro Preto é um município de Minas.\nHistória\n\nFoi capital da província até 1897."
    )

    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes(path.read_bytes()[:-40])
    truncated = list(read_source(SourceSpec(str(cut), "wiki", "ptwiki")))
    assert is_rejection(truncated[-1]) and truncated[-1]["reason"] == "truncated or corrupt file"
