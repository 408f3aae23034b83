"""Offline mode: replies from the FAQ alone, no model."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from chatbot.config import Settings
from chatbot.faq import offline_answer
from chatbot.replies.base import Origin, Piece, Prompt, Reply, replay


class FaqResponder:
    """The best FAQ entry's answer, or the fallback text in the visitor's language."""

    def __init__(self, settings: Settings) -> None:
        self._fallback = settings.faq_fallback

    async def reply(self, prompt: Prompt, *, request_id: str | None) -> Reply:
        answer = offline_answer(prompt.message, prompt.hits or (), fallback=self._fallback)
        # Offline, `sources` is always present (empty on a fallback): clients can tell the two apart.
        origin = Origin.FAQ if answer.sources else Origin.FALLBACK
        return Reply(answer.reply, origin, tuple(answer.sources))

    async def stream(self, prompt: Prompt, *, request_id: str | None) -> AsyncGenerator[Piece, None]:
        async for piece in replay(await self.reply(prompt, request_id=request_id)):
            yield piece
