"""What the FAQ alone answers: the best entry's answer, or a fallback in the visitor's language."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatbot.faq.index import Hit
from chatbot.faq.text import Language, detect_language

DEFAULT_FALLBACKS: dict[Language, str] = {
    "fr": "Désolé, je n'ai pas trouvé de réponse à cette question dans la FAQ. Pouvez-vous la reformuler ?",
    "en": "Sorry, I could not find an answer to that question in the FAQ. Could you rephrase it?",
}


@dataclass(frozen=True, slots=True)
class OfflineAnswer:
    """A reply from the FAQ alone; `sources` holds the question of the entry used, empty on a fallback."""

    reply: str
    sources: list[str]


def sources(hits: Sequence[Hit]) -> list[str]:
    """The questions of the entries used, for the response's `sources` field."""
    return [hit.entry.question for hit in hits]


def fallback_text(message: str, fallback: str = "") -> str:
    """`fallback` (FAQ_FALLBACK) when set, else the default in the visitor's language, or both when unsure."""
    if fallback.strip():
        return fallback.strip()
    language = detect_language(message)
    if language is None:
        return f"{DEFAULT_FALLBACKS['fr']}\n\n{DEFAULT_FALLBACKS['en']}"
    return DEFAULT_FALLBACKS[language]


def offline_answer(message: str, hits: Sequence[Hit], *, fallback: str = "") -> OfflineAnswer:
    """The best hit's answer with its question as source, else the fallback text with no sources."""
    if hits:
        best = hits[0]
        return OfflineAnswer(reply=best.entry.answer, sources=[best.entry.question])
    return OfflineAnswer(reply=fallback_text(message, fallback), sources=[])
