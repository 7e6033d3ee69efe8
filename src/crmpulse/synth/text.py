"""Words for the synthetic world: company and person names, ticket subjects, survey comments.

Every account speaks one language, ``"pt"`` (a ``.com.br`` company) or ``"en"``. Comments are
assembled from short fragments per theme and polarity so that a sentiment model can tell praise
from complaint and a theme extractor finds the recurring topics (support speed, price, onboarding,
bugs, product, the account team).
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Final, Literal

Lang = Literal["pt", "en"]
Theme = Literal["support", "price", "onboarding", "bugs", "product", "team"]
Polarity = Literal["positive", "negative", "mixed"]

THEMES: Final[tuple[Theme, ...]] = ("support", "price", "onboarding", "bugs", "product", "team")


def slug(text: str) -> str:
    """ASCII lower-case letters and digits only (for domains and e-mail local parts)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


@cache  # person names come from short fixed lists, so the cache stays tiny
def name_slug(name: str) -> str:
    """:func:`slug` of a first or last name, memoized."""
    return slug(name)


BRAND_ROOTS: Final[tuple[str, ...]] = (
    "Acme", "Aurora", "Atlas", "Boreal", "Brisa", "Cedro", "Cobalt", "Condor", "Delta", "Duna",
    "Eixo", "Ember", "Falcão", "Fjord", "Galena", "Granite", "Harbor", "Horizonte", "Ipê", "Iris",
    "Jade", "Juniper", "Kappa", "Lumen", "Maré", "Meridian", "Nimbus", "Nova", "Onyx", "Orion",
    "Pampa", "Pinnacle", "Quartz", "Quasar", "Raiz", "Redwood", "Serra", "Solstice", "Tucano",
    "Tundra", "Umbra", "Vale", "Vertex", "Vista", "Willow", "Xisto", "Yara", "Zenith", "Zephyr",
    "Âmbar", "Bamboo", "Capivara", "Coral", "Everest", "Gaivota", "Ironwood", "Lótus", "Mirante",
    "Oásis", "Prisma", "Sequoia",
)  # fmt: skip
"""First word of a company name; shared by both languages."""

BUSINESS_WORDS: Final[dict[Lang, tuple[str, ...]]] = {
    "en": (
        "Analytics", "Logistics", "Foods", "Health", "Labs", "Systems", "Retail", "Partners",
        "Energy", "Media", "Robotics", "Software", "Capital", "Clinics", "Freight", "Learning",
        "Outdoors", "Pharma", "Security", "Studios", "Telecom", "Textiles", "Travel", "Ventures",
    ),
    "pt": (
        "Logística", "Alimentos", "Saúde", "Sistemas", "Varejo", "Energia", "Engenharia",
        "Transportes", "Consultoria", "Educação", "Construtora", "Farmacêutica", "Tecnologia",
        "Agronegócio", "Comunicação", "Seguros", "Têxtil", "Turismo", "Imóveis", "Distribuidora",
        "Laboratórios", "Cosméticos", "Móveis", "Bebidas",
    ),
}  # fmt: skip
"""Second word of a company name, per language."""

LEGAL_SUFFIX: Final[dict[Lang, tuple[str, ...]]] = {
    "en": ("Inc", "LLC", "Ltd", "Co"),
    "pt": ("Ltda", "S.A.", "Ltda", "ME"),
}
TLD: Final[dict[Lang, tuple[str, ...]]] = {"en": ("com", "io", "com", "co"), "pt": ("com.br",)}

INDUSTRIES: Final[tuple[str, ...]] = (
    "Software", "Retail", "Healthcare", "Logistics", "Financial Services", "Manufacturing",
    "Education", "Media", "Food & Beverage", "Energy", "Professional Services", "Real Estate",
)  # fmt: skip

FIRST_NAMES: Final[dict[Lang, tuple[str, ...]]] = {
    "en": (
        "Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Sophia", "Lucas", "Mia", "Ethan",
        "Grace", "Henry", "Chloe", "Jack", "Zoe", "Owen", "Ella", "Samuel", "Ruby", "Leo",
    ),
    "pt": (
        "Ana", "Bruno", "Carla", "Diego", "Fernanda", "Gabriel", "Helena", "João", "Larissa",
        "Marcos", "Patrícia", "Rafael", "Sofia", "Thiago", "Vitória", "Camila", "Felipe", "Júlia",
        "Letícia", "Rodrigo",
    ),
}  # fmt: skip
LAST_NAMES: Final[dict[Lang, tuple[str, ...]]] = {
    "en": (
        "Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Clarke", "Walker", "Wright",
        "Hughes", "Green", "Hall", "Wood", "Harris", "Martin", "Cooper", "King", "Baker",
    ),
    "pt": (
        "Silva", "Souza", "Oliveira", "Santos", "Pereira", "Costa", "Rodrigues", "Almeida",
        "Nascimento", "Lima", "Araújo", "Fernandes", "Carvalho", "Gomes", "Martins", "Rocha",
        "Ribeiro", "Conceição",
    ),
}  # fmt: skip

TicketTopic = Literal["bug", "howto", "billing", "access", "onboarding", "feature"]

TOPIC_THEME: Final[dict[TicketTopic, Theme]] = {
    "bug": "bugs",
    "howto": "product",
    "billing": "price",
    "access": "support",
    "onboarding": "onboarding",
    "feature": "product",
}
"""The comment theme a ticket's topic tends to provoke."""

SUBJECTS: Final[dict[TicketTopic, dict[Lang, tuple[str, ...]]]] = {
    "bug": {
        "en": ("Error when exporting report", "Dashboard does not load", "Sync keeps failing"),
        "pt": ("Erro ao exportar relatório", "Painel não carrega", "Sincronização falhando"),
    },
    "howto": {
        "en": ("How do I set up automations?", "Question about user permissions"),
        "pt": ("Como configurar automações?", "Dúvida sobre permissões de usuários"),
    },
    "billing": {
        "en": ("Invoice shows the wrong amount", "Question about my renewal price"),
        "pt": ("Fatura com valor errado", "Dúvida sobre cobrança e preço da renovação"),
    },
    "access": {
        "en": ("Cannot log in", "Password reset email never arrives"),
        "pt": ("Não consigo acessar a conta", "E-mail de redefinição de senha não chega"),
    },
    "onboarding": {
        "en": ("Help setting up the integration", "Importing our data during onboarding"),
        "pt": ("Ajuda para configurar a integração", "Importação de dados na implantação"),
    },
    "feature": {
        "en": ("Feature request: bulk edit", "Can we get a custom report?"),
        "pt": ("Sugestão: edição em massa", "Pedido de relatório personalizado"),
    },
}

FRAGMENTS: Final[
    dict[Lang, dict[Theme, dict[Literal["positive", "negative"], tuple[str, ...]]]]
] = {
    "en": {
        "support": {
            "positive": (
                "Support answered within minutes, really fast.",
                "Great support, my issue was solved the same day.",
                "Quick and friendly replies from the support team.",
            ),
            "negative": (
                "Support takes days to answer a simple question.",
                "Slow support, our ticket sat open for a week.",
                "We waited far too long for a reply from support.",
            ),
        },
        "price": {
            "positive": ("Fair price for what we get.", "Good value for money."),
            "negative": (
                "Too expensive for a team our size.",
                "The price went up again and it is hard to justify.",
            ),
        },
        "onboarding": {
            "positive": (
                "Onboarding was smooth and well organised.",
                "The onboarding team got us live quickly.",
            ),
            "negative": (
                "Onboarding was confusing and took far too long.",
                "Nobody explained the setup, onboarding was a mess.",
            ),
        },
        "bugs": {
            "positive": ("The product is stable, no bugs lately.", "Everything just works."),
            "negative": (
                "Too many bugs after every update.",
                "The app keeps crashing and we lose work.",
            ),
        },
        "product": {
            "positive": (
                "Love the reporting features, easy to use.",
                "The product saves our team hours every week.",
            ),
            "negative": (
                "Missing basic features we were promised.",
                "Hard to use, the interface is clunky.",
            ),
        },
        "team": {
            "positive": (
                "Our account manager is helpful and proactive.",
                "Excellent service from the customer success team.",
            ),
            "negative": (
                "Nobody from the account team follows up.",
                "Our account manager disappeared, we feel ignored.",
            ),
        },
    },
    "pt": {
        "support": {
            "positive": (
                "Atendimento excelente, o suporte resolveu tudo rápido.",
                "O suporte responde em minutos, muito ágil.",
                "Suporte atencioso e rápido.",
            ),
            "negative": (
                "O suporte demora dias para responder.",
                "Atendimento lento, o chamado ficou aberto uma semana.",
                "Péssimo suporte, ninguém responde.",
            ),
        },
        "price": {
            "positive": ("Preço justo pelo que entrega.", "Ótimo custo-benefício."),
            "negative": (
                "Preço muito alto para o nosso tamanho.",
                "O preço aumentou de novo e ficou difícil justificar.",
            ),
        },
        "onboarding": {
            "positive": (
                "A implantação foi tranquila e bem organizada.",
                "O onboarding foi rápido e claro.",
            ),
            "negative": (
                "O onboarding foi confuso e demorou demais.",
                "Implantação desorganizada, ninguém explicou nada.",
            ),
        },
        "bugs": {
            "positive": ("Produto estável, sem bugs recentemente.", "Tudo funciona muito bem."),
            "negative": (
                "Muitos bugs a cada atualização.",
                "O sistema trava e perdemos trabalho.",
            ),
        },
        "product": {
            "positive": (
                "Adoro os relatórios, muito fácil de usar.",
                "A ferramenta economiza horas da equipe toda semana.",
            ),
            "negative": (
                "Faltam funcionalidades básicas que foram prometidas.",
                "Difícil de usar, a interface é confusa.",
            ),
        },
        "team": {
            "positive": (
                "Nosso gerente de conta é atencioso e proativo.",
                "Ótimo atendimento da equipe de sucesso do cliente.",
            ),
            "negative": (
                "Ninguém da equipe de sucesso do cliente acompanha nossa conta.",
                "O gerente de conta sumiu, nos sentimos ignorados.",
            ),
        },
    },
}
"""Comment sentences per language, theme and polarity."""

BUT: Final[dict[Lang, str]] = {"en": "But", "pt": "Mas"}
"""Joins the two halves of a mixed comment."""
