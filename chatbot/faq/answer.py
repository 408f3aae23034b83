"""What /chat does with retrieved entries: a grounded prompt for the model, or the FAQ's own answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

from chatbot.faq.index import Hit
from chatbot.faq.text import Language, detect_language

DEFAULT_FALLBACKS: dict[Language, str] = {
    "fr": "Désolé, je n'ai pas trouvé de réponse à cette question dans la FAQ. Pouvez-vous la reformuler ?",
    "en": "Sorry, I could not find an answer to that question in the FAQ. Could you rephrase it?",
}

_INSTRUCTION = """\
You answer visitors' questions for a website, using ONLY the FAQ entries below.
- If the entries answer the question, answer from them, briefly; keep links and product names as written.
- If they do not cover the question, say that the FAQ does not cover it and do not make up an answer.
- Reply in the visitor's language{language_hint}, whatever the language of the entries.
"""
_LANGUAGE_NAMES: dict[Language, str] = {"fr": "French", "en": "English"}


class ChatMessage(TypedDict):
    """One OpenAI chat message, as sent in the request's `messages`."""

    role: Literal["system", "user"]
    content: str


@dataclass(frozen=True, slots=True)
class OfflineAnswer:
    """A reply from the FAQ alone; `sources` holds the question of the entry used, empty on a fallback."""

    reply: str
    sources: list[str]


def sources(hits: Sequence[Hit]) -> list[str]:
    """The questions of the entries used, for the response's `sources` field."""
    return [hit.entry.question for hit in hits]


def grounded_messages(message: str, hits: Sequence[Hit], *, system_prompt: str = "") -> list[ChatMessage]:
    """Chat messages asking the model to answer `message` from `hits` only (an empty list is allowed)."""
    language = detect_language(message)
    hint = f" (it looks like {_LANGUAGE_NAMES[language]})" if language else ""
    if hits:
        context = "\n\n".join(f"### {hit.entry.question}\n{hit.entry.answer}" for hit in hits)
    else:
        context = "(no FAQ entry matches this question)"
    instruction = _INSTRUCTION.format(language_hint=hint)
    # The site owner's own prompt (tone, persona) comes first; the grounding rules must have the last word.
    system = "\n\n".join(
        part for part in (system_prompt.strip(), instruction, f"FAQ entries:\n\n{context}") if part
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": message}]


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
