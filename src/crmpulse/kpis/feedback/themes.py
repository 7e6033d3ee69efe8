"""The recurring topics of survey comments, as a small curated dictionary in both languages.

A theme is found when a comment contains one of its terms. Terms and comments go through the
same normalization: lower case, lemma (simplemma, in the comment's language), accents folded.
So ``"entregas"``, ``"Entrega"`` and ``"entregá-la"`` all meet the term ``"entrega"``, and a
phrase term such as ``"tempo de resposta"`` matches the same lemmas in a row. A word matches on
its lemma or on its own folded form, which keeps working when the lemmatizer guesses a verb
(``"entrega"`` -> ``"entregar"``).

Theme keys are stable English ``snake_case``; :data:`THEMES` gives their display labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from crmpulse.kpis.feedback.text import Language, fold, words

THEMES: Final[Mapping[str, str]] = {
    "support": "Support",
    "response_time": "Response time",
    "delivery": "Delivery & deadlines",
    "price": "Price",
    "billing": "Billing",
    "product_quality": "Product quality & defects",
    "ease_of_use": "Ease of use",
    "onboarding": "Onboarding",
    "account_team": "Account team",
}
"""Theme key -> label, in the order reports list them when counts tie."""

THEME_TERMS: Final[Mapping[str, Mapping[Language, tuple[str, ...]]]] = {
    "support": {
        "pt": ("atendimento", "atendente", "suporte", "sac", "chamado", "ticket", "help desk",
               "central de atendimento", "suporte técnico"),
        "en": ("support", "customer service", "helpdesk", "help desk", "agent", "ticket",
               "support team", "service desk"),
    },
    "response_time": {
        "pt": ("demora", "demorar", "demorado", "lento", "lentidão", "rápido", "ágil",
               "agilidade", "rapidez", "tempo de resposta", "sem resposta", "sem retorno",
               "responder", "esperar", "espera", "em minutos", "dias para"),
        "en": ("response time", "slow", "fast", "quick", "quickly", "wait", "waited", "reply",
               "replies", "respond", "answer", "within minutes", "takes days", "took days",
               "too long", "same day"),
    },
    "delivery": {
        "pt": ("entrega", "entregue", "atraso", "atrasar", "atrasado", "prazo", "frete",
               "envio", "transportadora", "rastreio", "rastreamento", "chegou", "chegar"),
        "en": ("delivery", "deliver", "shipping", "shipment", "ship", "late", "delay",
               "deadline", "courier", "tracking", "arrive", "parcel", "package"),
    },
    "price": {
        "pt": ("preço", "caro", "barato", "custo", "custo-benefício", "valor", "reajuste",
               "mensalidade", "plano"),
        "en": ("price", "pricing", "expensive", "cheap", "cost", "overpriced", "pricey",
               "value for money", "affordable", "price increase"),
    },
    "billing": {
        "pt": ("cobrança", "cobrar", "cobrado", "fatura", "boleto", "nota fiscal", "reembolso",
               "estorno", "pagamento", "cartão de crédito", "cobrança indevida",
               "cobrança duplicada"),
        "en": ("billing", "bill", "invoice", "charge", "charged", "refund", "payment",
               "credit card", "overcharged", "subscription", "receipt"),
    },
    "product_quality": {
        "pt": ("produto", "qualidade", "defeito", "defeituoso", "quebrado", "quebrar", "bug",
               "bugs", "erro", "falha", "travar", "trava", "estável", "instável", "funcionar",
               "funcionalidade", "recurso", "atualização"),
        "en": ("product", "quality", "defect", "defective", "broken", "break", "bug", "buggy",
               "crash", "error", "glitch", "stable", "unstable", "feature", "update",
               "not working", "works"),
    },
    "ease_of_use": {
        "pt": ("fácil", "difícil", "fácil de usar", "difícil de usar", "interface", "intuitivo",
               "confuso", "complicado", "usabilidade", "navegação"),
        "en": ("easy to use", "hard to use", "easy", "interface", "intuitive", "clunky",
               "confusing", "complicated", "usability", "user friendly", "ui", "ux"),
    },
    "onboarding": {
        "pt": ("implantação", "onboarding", "implementação", "treinamento", "configuração",
               "integração"),
        "en": ("onboarding", "setup", "set up", "implementation", "training", "integration",
               "go live", "went live", "got us live"),
    },
    "account_team": {
        "pt": ("gerente de conta", "sucesso do cliente", "customer success", "consultor",
               "executivo de conta", "gerente", "equipe de sucesso"),
        "en": ("account manager", "customer success", "account team", "csm",
               "account executive", "success team"),
    },
}  # fmt: skip
"""Terms per theme and language; single words and short phrases, in everyday spelling."""

Lemmatizer = Callable[[str, Language], str]


class ThemeMatcher:
    """The compiled :data:`THEME_TERMS`: word and phrase lookups per language."""

    def __init__(self, lemmatize: Lemmatizer) -> None:
        self._lemmatize = lemmatize
        self._words: dict[Language, dict[str, set[str]]] = {"pt": {}, "en": {}}
        self._phrases: dict[Language, list[tuple[tuple[str, ...], str]]] = {"pt": [], "en": []}
        for theme, by_language in THEME_TERMS.items():
            for language, terms in by_language.items():
                for term in terms:
                    self._add(language, theme, term)

    def _add(self, language: Language, theme: str, term: str) -> None:
        tokens = words(term)
        if len(tokens) == 1:
            for form in (fold(tokens[0]), self._lemma(tokens[0], language)):
                self._words[language].setdefault(form, set()).add(theme)
        else:
            lemmas = tuple(self._lemma(token, language) for token in tokens)
            self._phrases[language].append((lemmas, theme))

    def _lemma(self, token: str, language: Language) -> str:
        return fold(self._lemmatize(token.lower(), language))

    def vocabulary(self, language: Language) -> frozenset[str]:
        """Folded single-word terms of ``language`` (evidence for language detection)."""
        return frozenset(self._words[language])

    def themes(self, text: str, language: Language) -> tuple[str, ...]:
        """Theme keys mentioned in ``text``, each once, in :data:`THEMES` order."""
        tokens = words(text)
        lemmas = [self._lemma(token, language) for token in tokens]
        found: set[str] = set()
        vocabulary = self._words[language]
        for token, lemma in zip(tokens, lemmas, strict=True):
            found.update(vocabulary.get(lemma, ()))
            found.update(vocabulary.get(fold(token), ()))
        if self._phrases[language]:
            sequence = " " + " ".join(lemmas) + " "
            for phrase, theme in self._phrases[language]:
                if theme not in found and f" {' '.join(phrase)} " in sequence:
                    found.add(theme)
        return tuple(theme for theme in THEMES if theme in found)
