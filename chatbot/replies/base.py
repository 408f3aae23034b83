"""One interface for "produce a reply", whatever produces it: the FAQ alone or the model."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from chatbot.faq import Hit
from chatbot.llm import Message


class Origin(StrEnum):
    """What produced a reply (logs, metrics, and whether it may be cached or billed)."""

    MODEL = "model"
    FAQ = "faq"
    FALLBACK = "fallback"
    CACHE = "cache"


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a responder answers: the new message, the earlier turns (oldest first), the FAQ entries found
    (None when no FAQ is configured)."""

    message: str
    history: tuple[Message, ...] = ()
    hits: tuple[Hit, ...] | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole reply. `sources` None means the response carries no `sources` field at all."""

    text: str
    origin: Origin
    sources: tuple[str, ...] | None = None
    usage: dict[str, Any] | None = field(default=None)

    @property
    def tokens(self) -> int:
        """Tokens the upstream reported for this reply (0 when it did not, or no model was called)."""
        total = (self.usage or {}).get("total_tokens")
        return total if isinstance(total, int) and total > 0 else 0


#: What a streaming reply yields: pieces of text as they come, then the whole Reply.
Piece = str | Reply


class Responder(Protocol):
    """Produces replies; chosen once at start (FAQ-only or model), same interface for both."""

    async def reply(self, prompt: Prompt, *, request_id: str | None) -> Reply: ...

    def stream(self, prompt: Prompt, *, request_id: str | None) -> AsyncGenerator[Piece, None]: ...


_WORDS = re.compile(r"\S+\s*")


def pieces(text: str, count: int = 4) -> Iterator[str]:
    """`text` cut at word boundaries into about `count` pieces that join back to it (for replies known whole:
    a client reads cached and FAQ answers through the same stream as the model's)."""
    words = _WORDS.findall(text)
    lead = text[: len(text) - len(text.lstrip())]
    if not words:
        if text:
            yield text
        return
    size = max(1, -(-len(words) // count))
    for start in range(0, len(words), size):
        yield (lead if start == 0 else "") + "".join(words[start : start + size])


async def replay(reply: Reply) -> AsyncGenerator[Piece, None]:
    """A reply known whole, streamed: a few pieces, then the Reply."""
    for piece in pieces(reply.text):
        yield piece
    yield reply
