"""Conversations in Redis: the earlier turns of a visitor's chat, owned by the credential that started it.

One key per conversation, `conv:{id}`: a JSON object `{"owner", "messages"}` (messages oldest first, at most
CONVERSATION_MAX_TURNS turns), expiring CONVERSATION_TTL seconds after the last message. Read once and written
once per exchange. Two messages of the same conversation answered at the same instant keep the later one's
history only: a chat window sends one message at a time.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chatbot.llm import Message
from chatbot.state.redis import RedisLink

#: What a client may send back as a conversation id (ours are 22 URL-safe characters).
VALID_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_id() -> str:
    """An unguessable id (128 random bits): knowing one conversation tells nothing about another."""
    return secrets.token_urlsafe(16)


def _key(conversation_id: str) -> str:
    return f"conv:{{{conversation_id}}}"


@dataclass(frozen=True, slots=True)
class Thread:
    """The conversation a message belongs to: its id, its stored messages, and the turns to send upstream."""

    id: str
    stored: tuple[Message, ...] = ()
    history: tuple[Message, ...] = ()


class Conversations:
    """Load a conversation's history for its owner; keep each exchange; read or forget it on request."""

    def __init__(self, link: RedisLink, *, max_turns: int, max_chars: int, ttl: int) -> None:
        self._link = link
        self._max_messages = 2 * max_turns
        self._max_chars = max_chars
        self._ttl = ttl

    @property
    def available(self) -> bool:
        """Conversations exist when Redis is configured (down or not: then they go on without history)."""
        return self._link.configured

    async def _load(self, conversation_id: str) -> dict[str, Any] | None:
        """The stored conversation, {} when there is none, None when Redis cannot say."""
        unavailable = object()
        raw: object = await self._link.run(lambda r: r.get(_key(conversation_id)), unavailable)
        if raw is unavailable:
            return None
        if not isinstance(raw, bytes | str):
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    async def open(self, conversation_id: str | None, owner: str) -> Thread:
        """The given conversation when it is the owner's, else a new one; no history while Redis is down."""
        if conversation_id is None or not VALID_ID.fullmatch(conversation_id):
            return Thread(new_id())
        found = await self._load(conversation_id)
        if found is None:
            # Redis is down: keep the visitor's id, so the conversation goes on when Redis is back.
            return Thread(conversation_id)
        if found.get("owner") != owner:
            # Unknown, expired, or someone else's: never readable, never extendable.
            return Thread(new_id())
        stored = tuple(found.get("messages") or ())
        return Thread(conversation_id, stored, self._budgeted(stored))

    def _budgeted(self, messages: Sequence[Message]) -> tuple[Message, ...]:
        """The latest whole turns that fit CONVERSATION_MAX_CHARS: a long chat never overflows the context."""
        kept: list[Message] = []
        total = 0
        for start in range(len(messages) - (len(messages) % 2), 0, -2):
            turn = messages[start - 2 : start]
            total += sum(len(str(m.get("content", ""))) for m in turn)
            if total > self._max_chars:
                break
            kept[:0] = turn
        return tuple(kept)

    async def keep(self, thread: Thread, owner: str, user: str, reply: str) -> None:
        """Append one exchange, trim to the last turns, push the expiry back (best effort: Redis may fail)."""
        messages = [
            *thread.stored,
            {"role": "user", "content": user},
            {"role": "assistant", "content": reply},
        ]
        value = json.dumps({"owner": owner, "messages": messages[-self._max_messages :]}, ensure_ascii=False)
        await self._link.run(lambda r: r.set(_key(thread.id), value, ex=self._ttl), None)

    async def messages(self, conversation_id: str, owner: str) -> list[dict[str, Any]] | None:
        """The stored messages for their owner; None when unknown. Raises when Redis cannot tell."""
        if not VALID_ID.fullmatch(conversation_id):
            return None
        found = await self._load(conversation_id)
        if found is None:
            raise Unavailable
        if found.get("owner") != owner:
            return None
        return list(found.get("messages") or [])

    async def forget(self, conversation_id: str, owner: str) -> bool:
        """Delete it now; False when unknown to this owner. Raises Unavailable when Redis cannot tell."""
        if await self.messages(conversation_id, owner) is None:
            return False
        deleted = await self._link.run(lambda r: r.delete(_key(conversation_id)), None)
        if deleted is None:
            raise Unavailable
        return True


class Unavailable(Exception):
    """Redis cannot answer now, and the caller needs an answer (a read or a delete on request)."""
