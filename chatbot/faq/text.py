"""Text normalisation for FAQ retrieval: folding, stop words, stemming and a cheap language guess."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

import Stemmer

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")

_WORD = re.compile(r"[^\W_]+")
# NFKD leaves these ligatures whole; French writes them in everyday words (cœur, sœur, ex æquo).
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Folded (lower case, no accents). Question words are stop words too: every FAQ question has one.
_EN_STOP = _word_set(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing done down during each either else ever
    few for from further get gets got had has have having he her here hers herself him himself his how i
    if in into is it its itself just let lets me more most much must my myself need no nor not now of
    off on once only or other ought our ours ourselves out over own please same shall she should so some
    such than that the their theirs them themselves then there these they this those through to too
    under until up us very via want was way we were what when where whether which while who whom whose
    why will with within without would yes yet you your yours yourself yourselves hi hello hey thanks
    thank ok okay tell know explain
    """
)
_FR_STOP = _word_set(
    """
    a ai aie aient aies ait alors as au aucun aucune aussi autre aux avaient avais avait avec avez aviez
    avions avoir avons ayant bonjour bonsoir ca ce ceci cela celle celles celui ces cet cette ceux
    chaque ci comme comment dans de des donc dont du elle elles en encore es est et etaient etais etait
    etant ete etes etiez etions etre eu eue eues eus eut faire fais fait faut hors ici il ils je jusqu
    jusque la le les lorsqu lorsque leur leurs lui ma mais me meme mes merci moi mon ne ni nos notre
    nous on ont ou oui par pas peut peuvent peux plus pour pourquoi puis puisqu puisque qu quand que
    quel quelle quelles quels qui quoi sa sans se sera seront ses si sien soi soit sommes son sont sous
    suis sur svp ta te tes toi ton tous tout toute toutes tres tu un une vos votre vous voudrais veux
    veut vouloir y dis dire savoir explique expliquez faites
    """
)
STOP_WORDS = _EN_STOP | _FR_STOP

# Words that tell one language from the other: each list's stop words less those both languages share.
_MARKERS: dict[Language, frozenset[str]] = {
    "fr": _FR_STOP - _EN_STOP - {"ca", "ma", "ne", "ni", "si", "son", "y"},
    "en": _EN_STOP - _FR_STOP - {"an", "ok", "okay"},
}
_STEMMERS = {"fr": Stemmer.Stemmer("french"), "en": Stemmer.Stemmer("english")}


# The combining-mark blocks that accents of Latin, Greek and Cyrillic letters decompose into: one regex pass
# is ~10x faster than asking unicodedata.combining() about every character, and fold() runs on every message.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Lower-case `text` and strip its accents, so that `Élève` and `eleve` compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_LIGATURES))
    return decomposed if decomposed.isascii() else _COMBINING.sub("", decomposed)


def words(text: str) -> list[str]:
    """The folded words of `text`, in order; punctuation and elisions (l', qu') split them."""
    return _WORD.findall(fold(text))


def content_words(text: str) -> list[str]:
    """The folded words that carry meaning: no stop words, no single letters."""
    return [word for word in words(text) if len(word) > 1 and word not in STOP_WORDS]


def stem(word: str, language: Language) -> str:
    """The Snowball stem of a folded word: queries rarely carry accents, so both sides are stemmed folded.

    PyStemmer keeps its own bounded cache of recent words (10,000 per language).
    """
    result: str = _STEMMERS[language].stemWord(word)
    return result


def detect_language(text: str) -> Language | None:
    """Guess French or English from stop-word counts; None when there is no evidence or a tie."""
    counts = dict.fromkeys(LANGUAGES, 0)
    for word in words(text):
        for language in LANGUAGES:
            if word in _MARKERS[language]:
                counts[language] += 1
    # English has no accented letters: one in the raw text is French evidence a stop word may not give.
    if any(char in "éèêàâùûôîïçœ" for char in text.casefold()):
        counts["fr"] += 1
    if counts["fr"] == counts["en"]:
        return None
    return "fr" if counts["fr"] > counts["en"] else "en"
