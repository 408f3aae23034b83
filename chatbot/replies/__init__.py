"""Producing a reply: one interface (`Responder`), two responders (FAQ alone, model), chosen once at start."""

from chatbot.config import Provider, Settings
from chatbot.llm import ChatClient
from chatbot.replies.base import Origin, Piece, Prompt, Reply, Responder, pieces, replay
from chatbot.replies.faq import FaqResponder
from chatbot.replies.model import ModelResponder
from chatbot.replies.prompt import GROUNDING, build_messages, grounding


def make_responder(settings: Settings, client: ChatClient | None) -> Responder:
    """The responder of this configuration: the model when there is one, else the FAQ alone."""
    if settings.provider is Provider.OPENAI:
        if client is None:
            raise ValueError("the model responder needs a started client")
        return ModelResponder(settings, client)
    return FaqResponder(settings)


__all__ = [
    "GROUNDING",
    "FaqResponder",
    "ModelResponder",
    "Origin",
    "Piece",
    "Prompt",
    "Reply",
    "Responder",
    "build_messages",
    "grounding",
    "make_responder",
    "pieces",
    "replay",
]
