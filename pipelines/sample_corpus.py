"""A small, deterministic sample corpus that garimpo writes itself, defects included.

Why generate instead of shipping scraped text: the demo and the tests need documents whose flaws are
known exactly (how many duplicates, which ids are Spanish, which lines are blog boilerplate), and text
the project may redistribute. Every document is built from templates and word lists written for this
module, so nothing is copied from anywhere.

The clean part is fluent Portuguese prose (pt-BR, with a share of pt-PT made by swapping vocabulary)
rich in common stop words, shaped so that the FineWeb-2 Portuguese quality filters keep it: several
punctuated paragraphs, no repeated sentences inside a document, and enough template variety that
unrelated documents stay far apart for MinHash. Around it sit the defects real scrapes have, each in
a known count recorded in the returned summary and in ``sample_info.json``:

* ``web.jsonl``: clean pages plus exact duplicates, near duplicates, Spanish and English pages,
  mojibake, keyword spam, short junk, malformed JSON lines and an empty text record;
* ``blog.jsonl``: clean posts wrapped in blog boilerplate lines ("Postado por", "Marcadores:", ...);
* ``instruct.jsonl``: Alpaca-style records, some broken in the usual ways.

The same ``seed`` and ``n_docs`` always give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INFO_FILE = "sample_info.json"
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Topic:
    """Sentence templates and slot values for one subject; ``{slot}`` picks a random value."""

    theme: str
    titles: tuple[str, ...]
    sentences: tuple[str, ...]
    slots: dict[str, tuple[str, ...]]


TOPICS: tuple[Topic, ...] = (
    Topic(
        theme="a culinária caseira",
        titles=(
            "Como preparar {prato} em casa",
            "O segredo de {prato} perfeito",
            "Receitas de família: {prato}",
            "Dicas para quem está começando na cozinha",
        ),
        sentences=(
            "Para fazer {prato} é preciso separar os ingredientes com calma, começando pelo {ingrediente}.",
            "A receita leva cerca de {minutos} minutos no fogo e rende porções para quatro pessoas.",
            "Muita gente não sabe, mas o {ingrediente} deve entrar na panela só no final do preparo.",
            "Na casa da minha avó, {prato} era servido aos domingos com arroz branco e salada.",
            "O ideal é refogar a cebola no azeite até que ela fique dourada e bem macia.",
            "Quem prefere um sabor mais suave pode trocar o {ingrediente} por ervas frescas.",
            "Depois de pronto, o prato pode ser guardado na geladeira por até três dias.",
            "Um erro comum é mexer demais a massa, o que deixa o resultado pesado e seco.",
            "Os cozinheiros mais experientes dizem que o tempero se ajusta provando aos poucos.",
            "Em {cidade}, há restaurantes que servem {prato} com um toque de {ingrediente}.",
            "Vale a pena comprar os legumes na feira, onde eles são mais frescos e baratos.",
            "A cozinha regional guarda técnicas antigas que passaram de mãe para filha.",
            "Se a panela for de barro, o calor se espalha melhor e o caldo fica mais encorpado.",
            "Para a sobremesa, uma boa sugestão é servir frutas da estação com um pouco de mel.",
            "Não é preciso ter muitos utensílios: uma faca afiada e uma tábua já resolvem quase tudo.",
            "O cheiro do {ingrediente} refogado costuma trazer lembranças de infância para muita gente.",
            "Cozinhar em casa também ajuda a economizar e a comer de forma mais equilibrada.",
        ),
        slots={
            "prato": (
                "a feijoada",
                "a moqueca de peixe",
                "o arroz de pato",
                "o bolo de cenoura",
                "o pão de queijo",
                "o escondidinho de carne",
                "o caldo verde",
                "o baião de dois",
                "a torta de frango",
                "o cuscuz nordestino",
            ),
            "ingrediente": (
                "alho",
                "coentro",
                "leite de coco",
                "tomate maduro",
                "pimentão",
                "queijo meia cura",
                "cheiro-verde",
                "gengibre",
                "limão",
            ),
            "minutos": ("dez", "quinze", "vinte", "trinta", "quarenta", "cinquenta"),
        },
    ),
    Topic(
        theme="o futebol",
        titles=(
            "{clube} vence e sobe na tabela",
            "Análise da rodada: o que aprendemos com o {clube}",
            "A torcida do {clube} lota o estádio mais uma vez",
            "Bastidores do campeonato",
        ),
        sentences=(
            "O {clube} venceu a partida por {placar} e voltou a sonhar com o título da temporada.",
            "O treinador explicou que a equipe precisa manter a posse de bola por mais tempo.",
            "Os torcedores encheram o estádio em {cidade} e cantaram durante os noventa minutos.",
            "O goleiro fez duas defesas difíceis no primeiro tempo e foi eleito o melhor em campo.",
            "Depois do intervalo, o jogo ficou mais aberto e as chances apareceram dos dois lados.",
            "O {clube} ainda tem {jogos} jogos pela frente e depende apenas de si para se classificar.",
            "A diretoria confirmou a contratação de um meia que estava no futebol europeu.",
            "Um gol no fim da partida garantiu a vitória e provocou uma festa nas arquibancadas.",
            "Os jogadores reclamaram do gramado, que estava pesado por causa da chuva da tarde.",
            "Na próxima rodada, o adversário será um rival direto na briga pela liderança.",
            "A categoria de base do {clube} revelou atletas que hoje jogam na seleção.",
            "O árbitro consultou o vídeo e anulou o lance, o que irritou o banco de reservas.",
            "Para os comentaristas, a defesa ainda comete erros de posicionamento nas bolas aéreas.",
            "O capitão pediu calma e disse que o grupo está unido em torno do mesmo objetivo.",
            "Os ingressos para o clássico esgotaram em poucas horas, segundo a organização.",
            "O atacante marcou {gols} gols na temporada e é o artilheiro da competição.",
            "Com a vitória, o {clube} chegou a {pontos} pontos e subiu para a parte de cima da tabela.",
        ),
        slots={
            "clube": (
                "Atlético da Serra",
                "Esporte Clube Vale Verde",
                "Ribeirão Futebol Clube",
                "Grêmio Recreativo Litoral",
                "Clube Atlético Planalto",
                "Clube Náutico do Sul",
            ),
            "placar": ("um a zero", "dois a um", "três a um", "dois a zero", "quatro a dois"),
            "jogos": ("três", "quatro", "cinco", "seis", "oito"),
            "gols": ("doze", "quinze", "dezoito", "vinte"),
            "pontos": ("31", "38", "42", "45", "51", "57"),
        },
    ),
    Topic(
        theme="a tecnologia",
        titles=(
            "Como escolher {aparelho} sem gastar demais",
            "O que muda com a nova versão do {programa}",
            "Segurança digital: cuidados simples para o dia a dia",
            "Tecnologia na rotina das pequenas empresas",
        ),
        sentences=(
            "Antes de comprar {aparelho}, vale comparar a bateria, o armazenamento e o preço final.",
            "A nova versão do {programa} trouxe melhorias de desempenho e corrigiu falhas antigas.",
            "Os especialistas recomendam usar senhas longas e ativar a verificação em duas etapas.",
            "Muitos usuários não fazem cópias de segurança dos arquivos até perderem algo importante.",
            "A inteligência artificial já aparece em tarefas comuns, como a tradução de textos e a busca.",
            "Em {cidade}, uma empresa de software abriu {vagas} vagas para quem está começando na área.",
            "O celular virou a principal ferramenta de trabalho para quem vende pela internet.",
            "É importante manter o sistema atualizado, porque as atualizações fecham brechas de segurança.",
            "A conexão por fibra chegou a bairros que antes dependiam apenas do sinal do rádio.",
            "Quem trabalha com dados precisa entender de estatística tanto quanto de programação.",
            "O {programa} funciona também sem internet, o que ajuda em regiões com sinal fraco.",
            "As pequenas empresas passaram a usar planilhas na nuvem para organizar as vendas.",
            "Um computador mais simples resolve bem as tarefas de escritório e de estudo.",
            "Os golpes por mensagem ficaram mais sofisticados e usam nomes de bancos conhecidos.",
            "Aprender a programar não exige um curso caro, já que há material gratuito em português.",
            "O consumo de energia dos centros de dados virou tema de debate entre engenheiros.",
            "Segundo a pesquisa, {percentual} por cento dos entrevistados usam o celular para pagar contas.",
        ),
        slots={
            "aparelho": ("um notebook", "um celular", "um tablet", "um roteador", "um monitor"),
            "programa": ("aplicativo do banco", "editor de textos", "navegador", "sistema operacional"),
            "vagas": ("vinte", "trinta", "cinquenta", "cem"),
            "percentual": ("42", "57", "63", "71", "78"),
        },
    ),
    Topic(
        theme="a educação",
        titles=(
            "Como a escola de {cidade} melhorou a leitura dos alunos",
            "Dicas de estudo para o vestibular",
            "O papel dos professores na educação básica",
            "Educação de jovens e adultos ganha nova turma",
        ),
        sentences=(
            "A escola municipal de {cidade} criou um clube de leitura que reúne alunos de várias idades.",
            "Os professores dizem que a participação da família faz diferença no desempenho das crianças.",
            "Para estudar melhor, é recomendável dividir o conteúdo em blocos curtos e fazer revisões.",
            "O resultado da avaliação mostrou avanço em matemática, mas a escrita ainda preocupa.",
            "Muitos estudantes trabalham durante o dia e assistem às aulas no período da noite.",
            "A biblioteca recebeu {livros} livros novos, doados por moradores e editoras da região.",
            "Uma boa noite de sono ajuda a fixar o que foi aprendido durante a semana.",
            "A formação continuada dos professores é um dos pontos centrais do novo plano.",
            "Os alunos do ensino médio participaram de uma feira de ciências com projetos próprios.",
            "Ler em voz alta com as crianças amplia o vocabulário e desperta o gosto pelas histórias.",
            "A secretaria de educação anunciou a reforma de {escolas} escolas até o fim do ano.",
            "O uso de exercícios práticos torna as aulas de química mais interessantes para a turma.",
            "Na educação de jovens e adultos, o respeito ao tempo de cada aluno é fundamental.",
            "Fazer simulados ajuda o candidato a controlar o tempo e a ansiedade no dia da prova.",
            "A merenda escolar é, para muitas crianças, a refeição mais completa do dia.",
            "Os coordenadores pedagógicos acompanham de perto as turmas com maior dificuldade.",
            "O programa de monitoria permite que alunos mais velhos ajudem os colegas mais novos.",
        ),
        slots={
            "livros": ("trezentos", "quinhentos", "oitocentos", "mil e duzentos"),
            "escolas": ("doze", "dezoito", "vinte e cinco", "quarenta"),
        },
    ),
    Topic(
        theme="a saúde",
        titles=(
            "Hábitos simples para cuidar da saúde",
            "Campanha de vacinação chega a {cidade}",
            "O que os médicos dizem sobre {habito}",
            "Saúde mental no trabalho",
        ),
        sentences=(
            "Os médicos recomendam pelo menos trinta minutos de atividade física na maior parte dos dias.",
            "Beber água ao longo do dia é um hábito simples que faz bem para o corpo inteiro.",
            "A campanha de vacinação em {cidade} vai até o fim do mês e atende pessoas de todas as idades.",
            "Segundo a nutricionista, {habito} é uma das mudanças que trazem mais resultado.",
            "Dormir mal por muito tempo pode afetar a memória, o humor e a imunidade.",
            "Os postos de saúde ampliaram o horário de atendimento durante o inverno.",
            "Quem sente dor no peito ou falta de ar deve procurar atendimento médico com urgência.",
            "A saúde mental também precisa de atenção, e conversar sobre o assunto ajuda a reduzir o estigma.",
            "Uma alimentação com frutas, verduras e grãos integrais diminui o risco de várias doenças.",
            "O número de consultas cresceu {percentual} por cento em relação ao ano passado.",
            "Caminhar no fim da tarde é uma forma barata de se exercitar e de aliviar o estresse.",
            "Os especialistas lembram que não se deve tomar remédio sem orientação de um profissional.",
            "A hipertensão costuma não dar sinais, por isso é importante medir a pressão com frequência.",
            "O protetor solar deve ser usado mesmo em dias nublados, principalmente no verão.",
            "As equipes de saúde da família visitam as casas e acompanham pacientes com doenças crônicas.",
            "Reduzir o sal e o açúcar na comida é um passo importante para quem quer viver melhor.",
            "A doação de sangue salva vidas e pode ser feita a cada poucos meses por adultos saudáveis.",
        ),
        slots={
            "habito": (
                "comer mais verduras",
                "reduzir o consumo de açúcar",
                "dormir oito horas por noite",
                "fazer caminhadas diárias",
            ),
            "percentual": ("12", "18", "23", "35"),
        },
    ),
    Topic(
        theme="o turismo",
        titles=(
            "Roteiro de três dias em {cidade}",
            "O que fazer em {destino} na baixa temporada",
            "Como economizar na próxima viagem",
            "Viajar de ônibus pelo interior: vale a pena?",
        ),
        sentences=(
            "Quem visita {destino} costuma começar o passeio pelo centro histórico, que é pequeno e charmoso.",
            "A melhor época para viajar é a baixa temporada, quando os preços das pousadas caem bastante.",
            "De {cidade} até lá são cerca de {horas} horas de ônibus, com paradas para lanche no caminho.",
            "O mercado municipal é parada obrigatória para provar os doces e os queijos da região.",
            "Vale a pena reservar a hospedagem com antecedência, principalmente nos feriados prolongados.",
            "As praias mais afastadas exigem uma caminhada, mas a vista compensa o esforço.",
            "Para economizar, muitos viajantes preparam o café da manhã na própria hospedagem.",
            "O museu da cidade conta a história dos primeiros moradores e fica aberto de terça a domingo.",
            "Na volta, é comum trazer artesanato local como lembrança para a família.",
            "Os guias da região indicam trilhas leves, adequadas para quem viaja com crianças.",
            "Em {destino}, o pôr do sol visto do mirante atrai visitantes todos os fins de tarde.",
            "O transporte público funciona bem, mas alugar uma bicicleta é mais divertido.",
            "Leve roupas leves e um casaco, porque a temperatura cai bastante durante a noite.",
            "A culinária local é baseada em peixe fresco, farinha e frutas típicas da estação.",
            "Os moradores são receptivos e costumam dar dicas de lugares fora do roteiro turístico.",
            "Uma viagem bem planejada evita gastos inesperados e deixa mais tempo para aproveitar.",
            "O trem turístico percorre a serra em {horas} horas e passa por túneis e cachoeiras.",
        ),
        slots={
            "destino": (
                "Ouro Preto",
                "Paraty",
                "Bonito",
                "Lençóis",
                "Pirenópolis",
                "Sintra",
                "Évora",
                "Tiradentes",
            ),
            "horas": ("duas", "três", "quatro", "cinco", "seis"),
        },
    ),
    Topic(
        theme="a história",
        titles=(
            "A história esquecida de {cidade}",
            "O que aconteceu em {ano}",
            "Memória e patrimônio: os prédios antigos do centro",
            "Como viviam as famílias no século passado",
        ),
        sentences=(
            "Em {ano}, a cidade de {cidade} viveu uma transformação com a chegada da estrada de ferro.",
            "Os documentos do arquivo público mostram como era a vida dos trabalhadores naquela época.",
            "A igreja matriz foi construída por artesãos locais e levou quase vinte anos para ficar pronta.",
            "Os historiadores lembram que a região era caminho de tropeiros que levavam gado para o sul.",
            "Muitas famílias chegaram no início do século e trouxeram costumes que permanecem até hoje.",
            "O antigo casarão virou um centro cultural depois de uma longa reforma.",
            "As cartas guardadas por uma moradora revelam detalhes do cotidiano durante a guerra.",
            "A independência do país foi um processo longo, marcado por disputas políticas e regionais.",
            "No período colonial, a economia da região dependia da produção de açúcar e do porto.",
            "Os jornais de {ano} registraram a inauguração da primeira escola pública do bairro.",
            "O patrimônio histórico precisa de cuidado constante para não se perder com o tempo.",
            "As fotografias antigas ajudam a entender como as ruas e as praças mudaram ao longo das décadas.",
            "A memória dos mais velhos é uma fonte preciosa para quem estuda a história local.",
            "O movimento operário ganhou força nas fábricas de tecido no começo do século vinte.",
            "Durante a pesquisa, os estudantes encontraram mapas que mostram o traçado original da vila.",
            "A abolição da escravatura mudou a organização do trabalho nas fazendas da região.",
            "O museu reúne objetos, roupas e ferramentas usados pelas famílias ao longo de {seculos} séculos.",
        ),
        slots={
            "ano": ("1889", "1908", "1922", "1930", "1954", "1964", "1975"),
            "seculos": ("dois", "três", "quatro"),
        },
    ),
)

# Sentences that fit any topic; ``{tema}`` is the topic's theme, so they read naturally everywhere.
GENERIC_SENTENCES: tuple[str, ...] = (
    "Nos últimos anos, {tema} ganhou espaço nas conversas do dia a dia e nas redes sociais.",
    "Para muita gente, {tema} é uma forma de encontrar os amigos e de conhecer pessoas novas.",
    "Não há uma resposta única, mas a experiência mostra que a paciência costuma dar bons resultados.",
    "Uma pesquisa feita em {cidade} ouviu {pessoas} pessoas sobre {tema} e seus hábitos.",
    "É claro que cada caso é diferente, e o mais importante é respeitar o ritmo de cada um.",
    "Segundo {pessoa}, que acompanha o assunto há muitos anos, o interesse do público só aumenta.",
    "Por outro lado, há quem critique o excesso de informação sem fonte confiável na internet.",
    "Isso mostra que pequenas mudanças, quando feitas com constância, podem trazer grandes ganhos.",
    "Em {cidade}, a prefeitura apoia projetos que levam {tema} para perto dos moradores.",
    "A conversa com {pessoa} deixou claro que ainda há muito o que aprender sobre o tema.",
    "De acordo com os dados mais recentes, o número de interessados cresceu em todas as regiões.",
    "Quem quer saber mais pode procurar os cursos gratuitos oferecidos pela universidade pública.",
    "O assunto também divide opiniões dentro das famílias, o que torna o debate ainda mais rico.",
    "Para {pessoa}, o segredo está em começar devagar e não desistir nos primeiros obstáculos.",
    "Vale lembrar que boas escolhas dependem de informação clara e de tempo para pensar.",
    "A reportagem visitou {cidade} e conversou com moradores que têm histórias para contar.",
    "Com o tempo, o que parecia difícil passou a fazer parte da rotina de muitas pessoas.",
    "Os números ainda são modestos, mas indicam uma tendência que deve se manter no próximo ano.",
    "Ninguém precisa ser especialista para participar, basta ter curiosidade e vontade de aprender.",
    "Essa é uma das razões pelas quais {tema} continua tão presente na vida dos brasileiros.",
    "No fim das contas, o que se vê é uma mistura de tradição, criatividade e muito trabalho.",
    "A próxima edição do encontro já tem data marcada e deve reunir ainda mais participantes.",
)

GENERIC_SLOTS: dict[str, tuple[str, ...]] = {
    "pessoa": (
        "a professora Ana Ribeiro",
        "o pesquisador Carlos Menezes",
        "a jornalista Beatriz Lopes",
        "o engenheiro Rafael Nogueira",
        "a médica Helena Duarte",
        "o comerciante José Antunes",
        "a estudante Juliana Freitas",
    ),
    "pessoas": ("duzentas", "trezentas", "quinhentas", "mil", "duas mil"),
}

CITIES = {
    "pt-BR": ("São Paulo", "Recife", "Belo Horizonte", "Curitiba", "Salvador", "Belém", "Goiânia", "Natal"),
    "pt-PT": ("Lisboa", "Porto", "Coimbra", "Braga", "Faro", "Aveiro", "Viseu"),
}

# pt-BR -> pt-PT vocabulary and spelling; only pairs that keep the grammatical gender, so the
# swapped sentences stay grammatical.
PT_PT_WORDS = {
    "ônibus": "autocarro",
    "trem": "comboio",
    "celular": "telemóvel",
    "equipe": "equipa",
    "gol": "golo",
    "gols": "golos",
    "goleiro": "guarda-redes",
    "torcedores": "adeptos",
    "arquivos": "ficheiros",
    "usuários": "utilizadores",
    "café da manhã": "pequeno-almoço",
    "ensino médio": "ensino secundário",
    "planejada": "planeada",
    "patrimônio": "património",
    "brasileiros": "portugueses",
    "fim de tarde": "final de tarde",
    "crônicas": "crónicas",
    "na geladeira": "no frigorífico",
}

SPANISH_SENTENCES: tuple[str, ...] = (
    "La ciudad de {ciudad} recibe cada año a miles de turistas que buscan playas tranquilas.",
    "Los vecinos del barrio organizaron una feria para vender productos hechos a mano.",
    "El gobierno anunció nuevas medidas para mejorar el transporte público en la capital.",
    "Según los expertos, es importante dormir bien y comer verduras todos los días.",
    "El equipo ganó el partido del domingo y ahora ocupa el primer lugar de la tabla.",
    "Para preparar esta receta necesitas arroz, pollo, pimiento y un poco de azafrán.",
    "Los estudiantes de la universidad presentaron sus proyectos en una exposición abierta.",
    "La biblioteca municipal amplió su horario y ahora abre también los sábados por la tarde.",
    "Muchas personas prefieren viajar en tren porque es más cómodo y contamina menos.",
    "El museo de historia reabrió sus puertas después de una larga restauración.",
    "Los precios de los alquileres subieron bastante en los últimos meses en {ciudad}.",
    "La empresa busca programadores con experiencia y ofrece la posibilidad de trabajar desde casa.",
    "En invierno las temperaturas bajan mucho y conviene llevar ropa de abrigo.",
    "El festival de música reunió a artistas de todo el país durante tres días.",
)

ENGLISH_SENTENCES: tuple[str, ...] = (
    "The city council approved a new plan to improve public transport in {city}.",
    "Many people prefer to cook at home because it is cheaper and healthier.",
    "The team won the match on Sunday and moved to the top of the league table.",
    "Experts recommend at least thirty minutes of exercise on most days of the week.",
    "The new version of the app fixes several bugs and makes the interface faster.",
    "Students presented their science projects at an open fair in the school gym.",
    "The museum reopened after a long renovation and now offers free guided tours.",
    "Prices for rentals have gone up a lot in {city} over the last few months.",
    "If you travel in the low season, hotels are often much cheaper and less crowded.",
    "The library extended its opening hours and is now open on Saturday afternoons.",
    "A good night of sleep helps you remember what you learned during the day.",
    "The company is hiring developers and allows people to work from home twice a week.",
    "Local farmers sell fresh vegetables at the market every Wednesday morning.",
    "The festival brought together musicians from all over the country for three days.",
)

SPAM_KEYWORDS = (
    "comprar tênis barato",
    "tênis original",
    "promoção",
    "frete grátis",
    "melhor preço",
    "loja online",
    "desconto",
    "oferta imperdível",
    "tênis masculino",
    "tênis feminino",
)

SHORT_JUNK = (
    "Clique aqui para continuar lendo",
    "Página não encontrada",
    "Carregando...",
    "Aceitar todos os cookies",
    "Erro 404",
    "Faça login para comentar",
    "Início | Sobre | Contato",
    "Copyright © 2021 Todos os direitos reservados",
    "Assine nossa newsletter",
    "Voltar ao topo",
)

BLOG_AUTHORS = ("Maria Souza", "João Pedro", "Tia Cida", "Rui Fernandes", "Lúcia Almeida")

# Alpaca-style records written for this sample: (instruction, input, output).
INSTRUCT_PAIRS: tuple[tuple[str, str, str], ...] = (
    (
        "Explique o que é fotossíntese em poucas frases.",
        "",
        "Fotossíntese é o processo em que as plantas usam a luz do sol, a água e o gás carbônico para "
        "produzir açúcar. Como resultado, elas liberam oxigênio para o ambiente.",
    ),
    (
        "Dê três dicas para economizar energia em casa.",
        "",
        "1. Desligue as luzes dos cômodos vazios. 2. Tire da tomada os aparelhos que não estão em uso. "
        "3. Prefira lâmpadas de LED, que gastam menos energia.",
    ),
    (
        "Resuma o texto em uma frase.",
        "A prefeitura anunciou que as obras na avenida principal começam na segunda-feira e devem durar "
        "três meses. Durante esse período, os ônibus vão usar um desvio pela rua de trás.",
        "As obras na avenida principal começam na segunda-feira, duram três meses e desviam os ônibus.",
    ),
    (
        "Classifique o sentimento da frase como positivo, negativo ou neutro.",
        "Adorei o atendimento, voltarei com certeza!",
        "Positivo.",
    ),
    (
        "Classifique o sentimento da frase como positivo, negativo ou neutro.",
        "O produto chegou quebrado e ninguém respondeu minhas mensagens.",
        "Negativo.",
    ),
    (
        "Corrija os erros de ortografia da frase.",
        "Nós fomos na praia e comemos pastel de camarao.",
        "Nós fomos à praia e comemos pastel de camarão.",
    ),
    (
        "Qual é a capital do estado de Pernambuco?",
        "",
        "A capital de Pernambuco é Recife.",
    ),
    (
        "Escreva um pequeno poema sobre a chuva.",
        "",
        "A chuva bate na janela,\nmolha a rua e a flor amarela,\ne a cidade, calma e bela,\nadormece junto com ela.",
    ),
    (
        "Transforme a frase para a voz passiva.",
        "O aluno escreveu a redação.",
        "A redação foi escrita pelo aluno.",
    ),
    (
        "Liste os três estados da matéria mais comuns.",
        "",
        "Os três estados mais comuns são o sólido, o líquido e o gasoso.",
    ),
    (
        "Explique a diferença entre clima e tempo.",
        "",
        "O tempo descreve as condições da atmosfera em um momento e lugar, como um dia de chuva. O "
        "clima é o padrão dessas condições ao longo de muitos anos em uma região.",
    ),
    (
        "Sugira um nome para uma padaria de bairro.",
        "",
        "Uma sugestão é Padaria Pão da Esquina, um nome simples, fácil de lembrar e acolhedor.",
    ),
    (
        "Reescreva a frase em linguagem formal.",
        "A gente vai chegar atrasado por causa do trânsito.",
        "Nós chegaremos atrasados devido ao trânsito.",
    ),
    (
        "Qual é o plural de cidadão?",
        "",
        "O plural de cidadão é cidadãos.",
    ),
    (
        "Explique por que o céu é azul.",
        "",
        "A luz do sol se espalha ao atravessar a atmosfera, e a luz azul, de onda mais curta, se espalha "
        "muito mais do que as outras cores. Por isso enxergamos o céu azul durante o dia.",
    ),
    (
        "Traduza a frase para o inglês.",
        "Eu gosto de ler livros no domingo.",
        "I like to read books on Sunday.",
    ),
    (
        "Escreva uma mensagem curta convidando os vizinhos para uma reunião do condomínio.",
        "",
        "Olá, vizinhos! Convidamos todos para a reunião do condomínio na quinta-feira, às 19h, no salão "
        "de festas. Vamos falar sobre a manutenção do prédio. Contamos com a presença de vocês!",
    ),
    (
        "O que é um substantivo?",
        "",
        "Substantivo é a palavra que dá nome a seres, objetos, lugares, sentimentos e ideias, como casa, "
        "Maria e alegria.",
    ),
    (
        "Dê um exemplo de alimento rico em ferro.",
        "",
        "O feijão é um bom exemplo de alimento rico em ferro.",
    ),
    (
        "Explique o que significa a expressão 'chover no molhado'.",
        "",
        "A expressão significa repetir algo que já é sabido ou fazer algo que não traz nenhuma novidade.",
    ),
)

INSTRUCT_ENGLISH_ANSWERS: tuple[tuple[str, str], ...] = (
    (
        "Quais são as cores da bandeira do Brasil?",
        "The colors of the flag are green, yellow, blue and white.",
    ),
    ("Como faço para ferver um ovo?", "Place the egg in boiling water and cook it for about ten minutes."),
    ("Por que as folhas caem no outono?", "Trees drop their leaves to save water and energy during winter."),
)

ENDOFTEXT_LITERAL = "<|endoftext|>"


class _Writer:
    """Slot filling and document building around one seeded random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def bind(self, slots: dict[str, tuple[str, ...]]) -> dict[str, str]:
        """One value per slot for a whole document, so a page talks about one club, one city."""
        return {name: self.rng.choice(values) for name, values in slots.items()}

    @staticmethod
    def fill(template: str, values: dict[str, str]) -> str:
        return _SLOT.sub(lambda m: values[m.group(1)], template)

    def portuguese_doc(self, variety: str) -> tuple[str, str]:
        """A titled multi-paragraph document; returns (text, topic theme)."""
        topic = self.rng.choice(TOPICS)
        values = self.bind(
            {**GENERIC_SLOTS, **topic.slots, "cidade": CITIES[variety], "tema": (topic.theme,)}
        )
        pool = list(topic.sentences) + list(GENERIC_SENTENCES)
        n_paragraphs = self.rng.randint(3, 4)
        sizes = [self.rng.randint(2, 3) for _ in range(n_paragraphs)]
        # Sampling without replacement: a sentence never repeats inside a document, which keeps the
        # Gopher repetition ratios low, and two documents share few sentences, which keeps MinHash quiet.
        chosen = self.rng.sample(pool, sum(sizes))
        paragraphs, start = [], 0
        for size in sizes:
            paragraphs.append(" ".join(self.fill(s, values) for s in chosen[start : start + size]))
            start += size
        title = self.fill(self.rng.choice(topic.titles), values)
        text = title + "\n\n" + "\n\n".join(paragraphs)
        if variety == "pt-PT":
            text = to_pt_pt(text)
        return text, topic.theme

    def foreign_doc(self, sentences: tuple[str, ...], slots: dict[str, tuple[str, ...]]) -> str:
        values = self.bind(slots)
        chosen = [self.fill(s, values) for s in self.rng.sample(sentences, self.rng.randint(6, 8))]
        half = len(chosen) // 2
        return " ".join(chosen[:half]) + "\n\n" + " ".join(chosen[half:])

    def near_duplicate(self, text: str, n_changes: int) -> str:
        """``text`` with ``n_changes`` longer words swapped for others: same page, lightly edited."""
        words = text.split(" ")
        candidates = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
        replacements = ("excelente", "conhecido", "importante", "agradável", "tradicional", "moderno")
        for i in self.rng.sample(candidates, min(n_changes, len(candidates))):
            words[i] = self.rng.choice([r for r in replacements if r != words[i]])
        return " ".join(words)

    def keyword_spam(self) -> str:
        words = [self.rng.choice(SPAM_KEYWORDS) for _ in range(self.rng.randint(40, 60))]
        return " ".join(words)


def to_pt_pt(text: str) -> str:
    """Swap pt-BR words for their pt-PT counterparts (longest first, whole words only)."""
    for br in sorted(PT_PT_WORDS, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(br)}\b", PT_PT_WORDS[br], text)
    return text


def mojibake(text: str) -> str:
    """UTF-8 bytes misread as Windows-1252 (Latin-1 where 1252 has holes): 'ção' -> 'Ã§Ã£o'."""
    out = []
    for byte in text.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


def _scaled(n_docs: int, per_400: int) -> int:
    return max(1, round(per_400 * n_docs / 400))


def _web_and_blog(w: _Writer, n_docs: int) -> tuple[list[str], list[str], dict[str, Any]]:
    """The web and blog JSONL lines plus the counts and ids of every defect."""
    rng = w.rng
    counts = {
        "exact_duplicates": _scaled(n_docs, 12),
        "near_duplicates": _scaled(n_docs, 12),
        "spanish": _scaled(n_docs, 10),
        "english": _scaled(n_docs, 10),
        "mojibake": _scaled(n_docs, 8),
        "keyword_spam": _scaled(n_docs, 6),
        "short_junk": _scaled(n_docs, 10),
        "malformed_lines": 2,
        "empty_text": 1,
    }
    n_blog = round(0.2 * n_docs)
    n_clean = n_docs - n_blog - sum(counts.values())
    if n_clean < counts["exact_duplicates"] + counts["near_duplicates"]:
        raise ValueError(f"n_docs={n_docs} is too small for a sample corpus with every defect (try >= 60)")

    # Each web item is (kind, text or None, index of the original for duplicates).
    items: list[tuple[str, str | None, int | None]] = []
    n_pt_pt = 0
    for _ in range(n_clean):
        variety = "pt-PT" if rng.random() < 0.25 else "pt-BR"
        n_pt_pt += variety == "pt-PT"
        items.append(("clean", w.portuguese_doc(variety)[0], None))
    originals = rng.sample(range(n_clean), counts["exact_duplicates"] + counts["near_duplicates"])
    for k, orig in enumerate(originals):
        if k < counts["exact_duplicates"]:
            items.append(("exact_duplicates", items[orig][1], orig))
        else:
            items.append(("near_duplicates", w.near_duplicate(items[orig][1] or "", rng.randint(2, 3)), orig))
    for _ in range(counts["spanish"]):
        items.append(
            (
                "spanish",
                w.foreign_doc(SPANISH_SENTENCES, {"ciudad": ("Sevilla", "Valencia", "Zaragoza")}),
                None,
            )
        )
    for _ in range(counts["english"]):
        items.append(
            ("english", w.foreign_doc(ENGLISH_SENTENCES, {"city": ("Leeds", "Denver", "Halifax")}), None)
        )
    for _ in range(counts["mojibake"]):
        items.append(("mojibake", mojibake(w.portuguese_doc("pt-BR")[0]), None))
    for _ in range(counts["keyword_spam"]):
        items.append(("keyword_spam", w.keyword_spam(), None))
    for _ in range(counts["short_junk"]):
        items.append(("short_junk", rng.choice(SHORT_JUNK), None))
    items.extend([("malformed_lines", None, None)] * counts["malformed_lines"])
    items.append(("empty_text", "", None))

    order = list(range(len(items)))
    rng.shuffle(order)
    ids = {}
    for position, item_index in enumerate(order):
        ids[item_index] = f"web-{position:05d}"
    defect_ids: dict[str, list[Any]] = {kind: [] for kind in counts}
    web_lines = []
    for item_index in order:
        kind, text, orig = items[item_index]
        doc_id = ids[item_index]
        if kind == "malformed_lines":
            # A line cut in the middle of a string, as a crashed crawler leaves it.
            web_lines.append(f'{{"id": "{doc_id}", "text": "Esta página foi salva pela metade e')
        else:
            web_lines.append(_jsonl({"id": doc_id, "text": text, "source": "web"}))
        if kind in ("exact_duplicates", "near_duplicates"):
            defect_ids[kind].append([ids[orig], doc_id])
        elif kind != "clean":
            defect_ids[kind].append(doc_id)

    blog_lines, n_boilerplate_lines = [], 0
    for i in range(n_blog):
        text, theme = w.portuguese_doc("pt-BR")
        author = rng.choice(BLOG_AUTHORS)
        header = [f"Postado por {author} às {rng.randint(7, 23):02d}:{rng.randint(0, 59):02d}"]
        footer = [
            f"Marcadores: {theme.split(' ', 1)[1]}, dicas, cotidiano",
            "Nenhum comentário:",
            "Compartilhe no Facebook",
            f"Leia também: {w.portuguese_doc('pt-BR')[0].splitlines()[0]}",
        ]
        footer = rng.sample(footer, rng.randint(2, 4))
        n_boilerplate_lines += len(header) + len(footer)
        full = "\n".join(header) + "\n\n" + text + "\n\n" + "\n".join(footer)
        blog_lines.append(_jsonl({"id": f"blog-{i:05d}", "text": full, "source": "blog"}))

    summary = {
        "web": {"lines": len(web_lines), "clean": n_clean, "clean_pt_pt": n_pt_pt, **counts},
        "blog": {"lines": n_blog, "boilerplate_lines": n_boilerplate_lines},
        "ids": defect_ids,
    }
    return web_lines, blog_lines, summary


def _instruct(w: _Writer, n_records: int) -> tuple[list[str], dict[str, Any]]:
    """Alpaca-style JSONL lines: mostly sound records plus the usual breakages in known counts."""
    rng = w.rng
    per_kind = min(3, max(1, n_records // 27))
    kinds = (
        "empty_output",
        "noinput_placeholder",
        "template_placeholder",
        "english_answer",
        "mojibake",
        "endoftext_literal",
        "truncated_answer",
        "duplicate_prompt",
    )
    pool = [{"instruction": i, "input": x, "output": o} for i, x, o in INSTRUCT_PAIRS]

    def take(fits: Callable[[dict[str, str]], bool]) -> dict[str, str]:
        # Broken records get their own prompts, so the only repeated prompts are the intended ones.
        return pool.pop(next(i for i, r in enumerate(pool) if fits(r)))

    bases = {
        "truncated_answer": [take(lambda r: len(r["output"]) > 80) for _ in range(per_kind)],
        "empty_output": [take(lambda r: True) for _ in range(per_kind)],
        "noinput_placeholder": [take(lambda r: not r["input"]) for _ in range(per_kind)],
        "mojibake": [take(lambda r: not (r["instruction"] + r["output"]).isascii()) for _ in range(per_kind)],
    }
    n_clean = n_records - per_kind * len(kinds)
    clean = pool[:n_clean]
    used = {r["instruction"] for r in clean}
    while len(clean) < n_clean:
        a, b = rng.randint(10, 499), rng.randint(10, 499)
        rec = {"instruction": f"Quanto é {a} + {b}?", "input": "", "output": f"{a} + {b} = {a + b}."}
        if rec["instruction"] not in used:
            used.add(rec["instruction"])
            clean.append(rec)

    broken: list[tuple[str, dict[str, str]]] = []
    for k in range(per_kind):
        full = bases["truncated_answer"][k]
        cut = full["output"][: len(full["output"]) * 2 // 3].rstrip(" .,")
        broken.append(("truncated_answer", {**full, "output": cut}))
        broken.append(("empty_output", {**bases["empty_output"][k], "output": rng.choice(("", "   "))}))
        broken.append(("noinput_placeholder", {**bases["noinput_placeholder"][k], "input": "<noinput>"}))
        broken.append(("mojibake", {key: mojibake(v) for key, v in bases["mojibake"][k].items()}))
        broken.append(
            (
                "template_placeholder",
                {
                    "instruction": "Escreva uma mensagem de boas-vindas para {{name}}.",
                    "input": f"Equipe número {k + 1}",
                    "output": "Olá, {{name}}! Seja bem-vindo à equipe, estamos felizes com a sua chegada.",
                },
            )
        )
        question, answer = INSTRUCT_ENGLISH_ANSWERS[k % len(INSTRUCT_ENGLISH_ANSWERS)]
        broken.append(("english_answer", {"instruction": question, "input": "", "output": answer}))
        broken.append(
            (
                "endoftext_literal",
                {
                    "instruction": "Explique o que aparece no final deste trecho.",
                    "input": f"Fim do capítulo {k + 1}.{ENDOFTEXT_LITERAL}",
                    "output": f"O trecho termina com o marcador {ENDOFTEXT_LITERAL}, usado por alguns "
                    "programas para indicar o fim de um texto.",
                },
            )
        )
        broken.append(("duplicate_prompt", dict(clean[k])))

    records = [("clean", r) for r in clean] + broken
    rng.shuffle(records)
    lines, ids = [], {kind: [] for kind in kinds}
    for n, (kind, rec) in enumerate(records):
        rec_id = f"instruct-{n:05d}"
        lines.append(_jsonl({"id": rec_id, **rec}))
        if kind != "clean":
            ids[kind].append(rec_id)
    summary = {"lines": len(lines), "clean": n_clean, **{k: per_kind for k in kinds}}
    return lines, {"instruct": summary, "instruct_ids": ids}


def _jsonl(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


def _write_lines(path: Path, lines: list[str]) -> dict[str, Any]:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(data)
    return {"lines": len(lines), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_sample_corpus(out_dir: Path, seed: int = 0, n_docs: int = 400) -> dict:
    """Write ``web.jsonl``, ``blog.jsonl``, ``instruct.jsonl`` and ``sample_info.json`` into ``out_dir``.

    ``n_docs`` is the number of lines across ``web.jsonl`` and ``blog.jsonl`` (malformed ones
    included). Returns the summary also saved as ``sample_info.json``: per-file line counts and
    checksums, the count of every defect, and the ids carrying each defect (``[original, copy]``
    pairs for duplicates).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    w = _Writer(random.Random(seed))
    web_lines, blog_lines, summary = _web_and_blog(w, n_docs)
    instruct_lines, instruct_summary = _instruct(w, max(30, n_docs // 5))
    info: dict[str, Any] = {
        "seed": seed,
        "n_docs": n_docs,
        "files": {
            "web.jsonl": _write_lines(out_dir / "web.jsonl", web_lines),
            "blog.jsonl": _write_lines(out_dir / "blog.jsonl", blog_lines),
            "instruct.jsonl": _write_lines(out_dir / "instruct.jsonl", instruct_lines),
        },
        **summary,
        **instruct_summary,
    }
    (out_dir / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return info
