"""Portuguese or English? A cheap, deterministic guess for one short comment.

Each comment is routed to one sentiment lexicon, so the guess only has to separate the two
languages crmpulse speaks. Evidence, strongest first:

1. function words that exist in only one of the languages (``"não"``, ``"foi"`` / ``"the"``,
   ``"was"``), one vote each;
2. letters English does not use (``ã õ ç á é ...``), one vote per word that has them;
3. only on a tie: content words known to one language's vocabulary and not the other's (the
   caller passes the sentiment lexicons and theme terms) and endings typical of one language
   (``-ção``, ``-aram``, ``-ou`` / ``-ing``, ``-ly``), one vote each.

A comment with no evidence at all is English, the analyzers' common ground for "ok", "CRM".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from crmpulse.kpis.feedback.text import Language, fold, words

# Words that exist in both languages ("a", "as", "do", "no", "me", "se", "so") are left out.
PT_STOPWORDS: Final[frozenset[str]] = frozenset(
    {
        "o", "os", "da", "das", "dos", "na", "nas", "nos", "em", "um", "uma", "uns", "umas",
        "e", "ou", "que", "para", "pra", "por", "pelo", "pela", "pelos", "pelas", "com", "sem",
        "nao", "não", "foi", "foram", "era", "eram", "ser", "sido", "esta", "está", "estao",
        "estão", "estou", "estava", "isso", "isto", "esse", "essa", "este", "eles", "elas",
        "ele", "ela", "eu", "meu", "minha", "meus", "minhas", "nosso", "nossa", "nossos",
        "nossas", "voce", "você", "voces", "vocês", "seu", "sua", "seus", "suas", "mais",
        "muito", "muita", "muitos", "muitas", "mas", "também", "tambem", "já", "ja", "até",
        "ate", "tudo", "nada", "nunca", "quando", "como", "porque", "porquê", "ao", "aos", "às",
        "tem", "têm", "ter", "tive", "teve", "fiz", "fez", "ficou", "fiquei", "vez", "vezes",
        "ainda", "depois", "agora", "sempre", "qualquer", "nenhum", "nenhuma", "cada", "pouco",
    }
)  # fmt: skip
"""Portuguese function words, with and without accents."""

EN_STOPWORDS: Final[frozenset[str]] = frozenset(
    {
        "the", "an", "and", "or", "of", "to", "in", "on", "at", "for", "with", "without",
        "from", "by", "is", "are", "was", "were", "be", "been", "being", "am", "it", "its",
        "it's", "this", "that", "these", "those", "i", "my", "we", "our", "us", "you", "your",
        "they", "their", "them", "he", "she", "his", "her", "not", "don't", "doesn't", "didn't",
        "isn't", "wasn't", "can't", "won't", "dont", "doesnt", "didnt", "isnt", "wasnt", "cant",
        "wont", "but", "very", "too", "just", "again", "after", "before", "every", "all", "any",
        "some", "what", "when", "which", "who", "how", "why", "have", "has", "had", "does",
        "did", "will", "would", "could", "should", "there", "here", "than", "then", "also",
        "only", "still", "really", "never", "nothing", "nobody", "about", "into", "out", "up",
        "over", "got", "get", "gets",
    }
)  # fmt: skip
"""English function words."""

_PT_LETTERS: Final[frozenset[str]] = frozenset("ãõçáéíóúâêôà")
_SHARED: Final[frozenset[str]] = frozenset({"a", "as", "do", "no", "me", "se", "so", "de"})
_PT_ENDINGS: Final[tuple[str, ...]] = (
    "cao", "coes", "oes", "aram", "eram", "iram", "ando", "endo", "indo", "dade", "mente", "ou",
)  # fmt: skip
_EN_ENDINGS: Final[tuple[str, ...]] = ("ing", "tion", "ly", "ed", "ness", "ful", "'s")


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Content words, accent-folded, that belong to one language only (the tie-breaker)."""

    pt: frozenset[str] = field(default_factory=frozenset)
    en: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_words(cls, pt: Iterable[str], en: Iterable[str]) -> Vocabulary:
        """Keep the words of each list that the other list does not have."""
        pt_set = frozenset(fold(word) for word in pt) - _SHARED
        en_set = frozenset(fold(word) for word in en) - _SHARED
        return cls(pt=pt_set - en_set, en=en_set - pt_set)


EMPTY_VOCABULARY: Final = Vocabulary()


def detect_language(text: str, vocabulary: Vocabulary = EMPTY_VOCABULARY) -> Language:
    """``"pt"`` or ``"en"`` by counting the evidence described in the module docstring."""
    tokens = [token.lower() for token in words(text)]
    pt = en = 0
    for token in tokens:
        if token in PT_STOPWORDS:
            pt += 1
        elif token in EN_STOPWORDS:
            en += 1
        if not _PT_LETTERS.isdisjoint(token):
            pt += 1
    if pt == en:
        for token in tokens:
            folded = fold(token)
            pt += folded in vocabulary.pt or (folded != "you" and folded.endswith(_PT_ENDINGS))
            en += folded in vocabulary.en or folded.endswith(_EN_ENDINGS)
    return "pt" if pt > en else "en"
