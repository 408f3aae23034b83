"""FAQ knowledge: parse the Markdown FAQ, retrieve the entries relevant to a message, reload on edit."""

from chatbot.faq.answer import (
    DEFAULT_FALLBACKS,
    OfflineAnswer,
    fallback_text,
    offline_answer,
    sources,
)
from chatbot.faq.index import DEFAULT_MIN_SCORE, DEFAULT_TOP_K, FaqIndex, Hit
from chatbot.faq.parse import FaqEntry, FaqError, load_faq, parse_faq
from chatbot.faq.store import FaqStore
from chatbot.faq.text import Language, detect_language

__all__ = [
    "DEFAULT_FALLBACKS",
    "DEFAULT_MIN_SCORE",
    "DEFAULT_TOP_K",
    "FaqEntry",
    "FaqError",
    "FaqIndex",
    "FaqStore",
    "Hit",
    "Language",
    "OfflineAnswer",
    "detect_language",
    "fallback_text",
    "load_faq",
    "offline_answer",
    "parse_faq",
    "sources",
]
