"""Customer-service vocabulary layered over the VADER (English) and LeIA (Portuguese) lexicons.

Both analyzers score a sentence by summing word valences on VADER's scale (-4 .. +4) and
normalizing the sum to ``compound = s / sqrt(s² + 15)``. Their general-purpose lexicons miss or
misread the words customers use about service, so the analyzer patches each lexicon when it loads:

- ``*_LEXICON`` entries are added or override the stock value;
- ``*_REMOVED`` words are deleted (they carry no sentiment in a survey comment, or they break the
  analyzer's own rules);
- ``*_REWRITES`` turn a short phrase into one token before scoring. A rewrite either joins a
  phrase whose meaning is not the sum of its words into a token with its own valence below
  (``"takes days"`` -> ``tookdays``), hides a proper name whose words look emotional
  (``"customer success"``), or maps a Portuguese negator that LeIA does not know onto ``nao``.

Portuguese keys are accent-folded and lower case, because LeIA folds the text (NFKD -> ASCII)
before looking words up.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import product
from typing import Final


def _phrases(token: str, *slots: Iterable[str]) -> dict[str, str]:
    """Every phrase made of one choice per slot, all rewritten to ``token``."""
    return {" ".join(choice): token for choice in product(*slots)}


PT_LEXICON: Final[dict[str, float]] = {
    # slow, late, stuck
    "demorou": -1.6, "demoraram": -1.6, "demorado": -1.5, "demorada": -1.5, "demoram": -1.5,
    "demorando": -1.5, "demorar": -1.2, "atrasou": -1.8, "atrasaram": -1.8, "atrasa": -1.5,
    "atrasado": -1.6, "atrasada": -1.6, "atrasados": -1.6, "atrasadas": -1.6, "atrasando": -1.6,
    "atrasos": -1.5, "lento": -1.5, "lenta": -1.5, "lentos": -1.5, "lentas": -1.5,
    "lentidao": -1.6, "semresposta": -1.6, "foradoprazo": -1.6, "nuncamais": -2.0,
    # broken, defective, failing
    "pessimo": -3.0, "pessima": -3.0, "pessimos": -3.0, "pessimas": -3.0,
    "quebrada": -2.1, "quebrados": -2.1, "quebradas": -2.1, "quebrou": -2.0,
    "defeituoso": -2.0, "defeituosa": -2.0, "defeituosos": -2.0, "defeituosas": -2.0,
    "bug": -1.5, "bugs": -1.5, "bugado": -1.8, "bugada": -1.8, "trava": -1.4, "travou": -1.8,
    "travando": -1.8, "travamento": -1.8, "travamentos": -1.8, "paroudefuncionar": -1.8,
    "perdemos": -1.2, "perdi": -1.2, "perdeu": -1.2,
    "falta": -1.0, "faltam": -1.0, "faltou": -1.0, "faltando": -1.0,
    # billing and price
    "indevida": -2.0, "indevido": -2.0, "indevidas": -2.0, "indevidos": -2.0,
    "cobrancaduplicada": -2.0, "caro": -1.2, "caros": -1.2,
    # people and process
    "desorganizado": -1.6, "desorganizada": -1.6, "desorganizacao": -1.6, "confusa": -1.3,
    "sumiu": -1.5, "sumiram": -1.5, "ignorado": -1.6, "ignorada": -1.6, "ignorados": -1.6,
    "ignoradas": -1.6, "ignoram": -1.6, "ninguem": -1.0, "descaso": -2.5, "enrolacao": -2.0,
    "enrolaram": -2.0, "enrolando": -1.8, "grosseiro": -2.2, "grosseira": -2.2, "lixo": -2.5,
    "dificil": -1.5,
    # praise
    "resolveu": 1.6, "resolveram": 1.6, "resolve": 1.2, "resolvida": 1.1, "resolvidos": 1.1,
    "resolvidas": 1.1, "rapido": 1.5, "rapida": 1.5, "rapidos": 1.5, "rapidas": 1.5,
    "rapidez": 1.6, "rapidamente": 1.3, "agil": 1.8, "ageis": 1.8, "agilidade": 1.7,
    "atenciosa": 1.9, "atenciosos": 1.9, "atenciosas": 1.9, "prestativo": 2.0,
    "prestativa": 2.0, "prestativos": 2.0, "cordial": 1.5, "educado": 1.3, "educada": 1.3,
    "proativo": 1.6, "proativa": 1.6, "estavel": 1.2, "estaveis": 1.2, "tranquila": 1.2,
    "intuitivo": 1.8, "intuitiva": 1.8, "pontual": 1.5, "noprazo": 1.5,
    "resolveuoproblema": 1.8, "deixaadesejar": -1.2, "cumprido": 1.0, "cumprida": 1.0,
    "cumpriu": 1.2, "cumpriram": 1.2, "notadez": 2.5, "notazero": -2.5,
    "adoro": 2.6, "adorei": 2.6, "amo": 2.8, "amei": 2.8, "recomendamos": 1.5,
    "economiza": 1.3, "economizamos": 1.3, "funciona": 1.2, "funcionou": 1.2, "funcionam": 1.2,
}  # fmt: skip
"""Portuguese customer-service words (accent-folded) and their valence."""

PT_REMOVED: Final[frozenset[str]] = frozenset(
    {
        # LeIA lists "nao" as a negative word; VADER skips negation when the preceding word is
        # itself in the lexicon, so "nao" there turns "não foi ruim" negative.
        "nao",
        # "o preço aumentou" is a complaint; the stock +1.1 reads it as growth.
        "aumentou",
    }
)
"""Portuguese words deleted from LeIA's lexicon."""

PT_REWRITES: Final[dict[str, str]] = {
    "sucesso do cliente": "sucessodocliente",
    "customer success": "sucessodocliente",
    "sem duvida": "semduvida",
    "sem resposta": "semresposta",
    "sem retorno": "semresposta",
    "sem solucao": "semresposta",
    "no prazo": "noprazo",
    "dentro do prazo": "noprazo",
    "antes do prazo": "noprazo",
    "fora do prazo": "foradoprazo",
    "parou de funcionar": "paroudefuncionar",
    "cobrado duas vezes": "cobrancaduplicada",
    "cobraram duas vezes": "cobrancaduplicada",
    "cobranca duplicada": "cobrancaduplicada",
    "cobranca em dobro": "cobrancaduplicada",
    "nunca mais": "nuncamais",
    "deixa a desejar": "deixaadesejar",
    "deixou a desejar": "deixaadesejar",
    "poderia ser melhor": "deixaadesejar",
    "podia ser melhor": "deixaadesejar",
    "precisa melhorar": "deixaadesejar",
    "precisa melhorar muito": "deixaadesejar",
    "nota 10": "notadez",
    "nota dez": "notadez",
    "nota mil": "notadez",
    "nota 0": "notazero",
    "nota zero": "notazero",
    # one unit, so that a negation before the verb does not also flip "problema"
    **_phrases(
        "resolveuoproblema",
        ("resolveu", "resolveram", "resolver", "resolve", "resolvem"),
        ("o", "meu", "nosso", "o meu", "o nosso", "a"),
        ("problema", "questao", "chamado", "duvida"),
    ),
    **_phrases(
        "semresposta",
        ("nunca", "nao"),
        ("respondeu", "responderam", "retornou", "retornaram", "deu retorno", "deram retorno"),
    ),
    # negators LeIA does not know: VADER negation needs one of its own ("nao") before the word
    "nunca": "nao",
    "jamais": "nao",
    "nem": "nao",
    "nenhum": "nao",
    "nenhuma": "nao",
    "nada": "nao",
    "sem": "nao",
    # "ninguém" both complains on its own and negates what follows ("ninguém resolveu")
    "ninguem": "ninguem nao",
}
"""Portuguese phrases (accent-folded, lower case) replaced before scoring."""

EN_LEXICON: Final[dict[str, float]] = {
    "slow": -1.5, "slower": -1.5, "slowly": -1.2, "sluggish": -1.5, "waited": -1.0,
    "waiting": -0.8, "late": -1.2, "delays": -1.3, "tookdays": -1.5, "toolong": -1.5,
    "bug": -1.5, "bugs": -1.5, "buggy": -2.0, "glitch": -1.5, "glitches": -1.5,
    "glitchy": -1.8, "crashes": -1.7, "crashed": -1.8, "crashing": -1.8, "notworking": -1.8,
    "defective": -2.0, "faulty": -1.8, "clunky": -1.5, "unreliable": -1.8, "unresolved": -1.5,
    "expensive": -1.5, "overpriced": -2.0, "pricey": -1.2, "overcharged": -2.2,
    "chargedtwice": -2.0, "nobody": -1.0, "noreply": -1.6, "neveragain": -2.0,
    "fixedissue": 1.8, "notfixed": -1.8, "couldbebetter": -1.0,
    "fast": 1.3, "quick": 1.3, "quickly": 1.2, "promptly": 1.5, "ontime": 1.5,
    "smooth": 1.2, "smoothly": 1.2, "seamless": 1.8, "intuitive": 1.5, "reliable": 1.5,
    "works": 1.0, "saves": 1.5,
}  # fmt: skip
"""English customer-service words and their valence."""

EN_REMOVED: Final[frozenset[str]] = frozenset(
    {
        # "support" names the team in a survey comment ("support takes days"); the stock +1.7
        # made every complaint about support lean positive.
        "support",
        # customers mention promises when they were broken ("features we were promised")
        "promised",
    }
)
"""English words deleted from VADER's lexicon."""

_DETERMINERS: Final = ("my", "the", "our", "this")
_PROBLEMS: Final = ("problem", "issue", "ticket", "question")

EN_REWRITES: Final[dict[str, str]] = {
    "customer success": "customersuccess",
    "takes days": "tookdays",
    "take days": "tookdays",
    "took days": "tookdays",
    "taking days": "tookdays",
    "takes weeks": "tookdays",
    "took weeks": "tookdays",
    "takes forever": "tookdays",
    "took forever": "tookdays",
    "too long": "toolong",
    "charged twice": "chargedtwice",
    "charged me twice": "chargedtwice",
    "charged us twice": "chargedtwice",
    "double charged": "chargedtwice",
    "on time": "ontime",
    "never again": "neveragain",
    "could be better": "couldbebetter",
    "needs improvement": "couldbebetter",
    "room for improvement": "couldbebetter",
    # one unit, so that a negation before the verb does not also flip "problem"
    **_phrases(
        "fixedissue",
        ("solved", "fixed", "resolved", "solves", "fixes", "resolves"),
        _DETERMINERS,
        _PROBLEMS,
    ),
    # the base form only after a negation: "fix the issue" alone is usually a request
    **_phrases(
        "notfixed",
        ("didn't", "didnt", "did not", "couldn't", "couldnt", "could not", "can't", "cannot"),
        ("solve", "fix", "resolve"),
        _DETERMINERS,
        _PROBLEMS,
    ),
    **_phrases(
        "noreply",
        ("never", "no one", "nobody"),
        ("replied", "answered", "responded", "called back", "got back to us", "got back to me"),
    ),
    "no reply": "noreply",
    "no response": "noreply",
    "no answer": "noreply",
    "not working": "notworking",
    "stopped working": "notworking",
    "doesn't work": "notworking",
    "doesnt work": "notworking",
    "does not work": "notworking",
    "didn't work": "notworking",
    "didnt work": "notworking",
    "did not work": "notworking",
}
"""English phrases (lower case) replaced before scoring."""
