"""Replies from the model, grounded in the FAQ when one is configured."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from chatbot.config import Settings
from chatbot.faq import fallback_text, sources
from chatbot.llm import ChatClient, Completion, Message
from chatbot.replies.base import Origin, Piece, Prompt, Reply, replay
from chatbot.replies.prompt import build_messages


class ModelResponder:
    """Asks the model; with FAQ_REQUIRED, a first message the FAQ does not cover never reaches it."""

    def __init__(self, settings: Settings, client: ChatClient) -> None:
        self._settings = settings
        self._client = client

    def _refused(self, prompt: Prompt) -> Reply | None:
        """The fallback reply when FAQ_REQUIRED keeps this message from the paid model, else None."""
        if self._settings.faq_required and prompt.hits is not None and not prompt.hits and not prompt.history:
            return Reply(fallback_text(prompt.message, self._settings.faq_fallback), Origin.FALLBACK)
        return None

    def _messages(self, prompt: Prompt) -> list[Message]:
        return build_messages(
            prompt.message,
            hits=prompt.hits,
            history=prompt.history,
            system_prompt=self._settings.system_prompt,
        )

    def _reply(self, prompt: Prompt, completion: Completion) -> Reply:
        # The guide's `{"reply"}` stays as it was unless FAQ entries were used.
        used = tuple(sources(prompt.hits or ()))
        return Reply(completion.text, Origin.MODEL, used or None, completion.usage)

    async def reply(self, prompt: Prompt, *, request_id: str | None) -> Reply:
        refused = self._refused(prompt)
        if refused is not None:
            return refused
        completion = await self._client.complete(self._messages(prompt), request_id=request_id)
        return self._reply(prompt, completion)

    async def stream(self, prompt: Prompt, *, request_id: str | None) -> AsyncGenerator[Piece, None]:
        refused = self._refused(prompt)
        if refused is not None:
            async for piece in replay(refused):
                yield piece
            return
        async for item in self._client.stream(self._messages(prompt), request_id=request_id):
            yield self._reply(prompt, item) if isinstance(item, Completion) else item
