"""Text helpers shared by language detection, sentiment and themes: folding and tokens."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final, Literal

Language = Literal["pt", "en"]

RIGHT_QUOTE: Final = "\u2019"
"""The typographic apostrophe phones insert ("doesn\u2019t"); read as ASCII ``'``."""

_WORD: Final = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


@lru_cache(maxsize=65536)  # comment vocabularies are small; folding is the hot path
def fold(word: str) -> str:
    """Lower case without diacritics (``"Péssimo"`` -> ``"pessimo"``), as people type on phones."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The letter runs of ``text`` in order, keeping inner apostrophes (``"doesn't"``)."""
    return _WORD.findall(text.replace(RIGHT_QUOTE, "'"))
