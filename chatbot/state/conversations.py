"""Conversations in Redis: the earlier turns of a visitor's chat, owned by the credential that started it.

Per conversation, two keys sharing a hash tag (one cluster slot): `conv:{id}:owner` and `conv:{id}:msgs`,
a list of JSON messages, oldest first, trimmed to CONVERSATION_MAX_TURNS turns, both expiring
CONVERSATION_TTL seconds after the last message.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from chatbot.llm import Message
from chatbot.state.redis import RedisLink

#: What a client may send back as a conversation id (ours are 22 URL-safe characters).
VALID_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_id() -> str:
    """An unguessable id (128 random bits): knowing one conversation tells nothing about another."""
    return secrets.token_urlsafe(16)


def _keys(conversation_id: str) -> tuple[str, str]:
    return f"conv:{{{conversation_id}}}:owner", f"conv:{{{conversation_id}}}:msgs"


@dataclass(frozen=True, slots=True)
class Thread:
    """The conversation a message belongs to: its id, and the earlier turns to send with it."""

    id: str
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

    async def open(self, conversation_id: str | None, owner: str) -> Thread:
        """The given conversation when it is the owner's, else a new one; no history while Redis is down."""
        if conversation_id is None or not VALID_ID.fullmatch(conversation_id):
            return Thread(new_id())
        found = await self._link.run(lambda r: self._read(r, conversation_id), None)
        if found is None:
            # Redis is down: keep the visitor's id, so the conversation goes on when Redis is back.
            return Thread(conversation_id)
        stored_owner, raw = found
        if stored_owner != owner:
            # Unknown, expired, or someone else's: never readable, never extendable.
            return Thread(new_id())
        return Thread(conversation_id, self._budgeted([json.loads(m) for m in raw]))

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

    async def _read(self, client: aioredis.Redis, conversation_id: str) -> tuple[str | None, list[bytes]]:
        owner_key, messages_key = _keys(conversation_id)
        async with client.pipeline(transaction=False) as pipe:
            pipe.get(owner_key)
            pipe.lrange(messages_key, 0, -1)
            owner, raw = await pipe.execute()
        return (owner.decode() if owner is not None else None), raw

    async def keep(self, conversation_id: str, owner: str, user: str, reply: str) -> None:
        """Append one exchange, trim to the last turns, push the expiry back (best effort: Redis may fail)."""
        owner_key, messages_key = _keys(conversation_id)
        entries = [
            json.dumps({"role": "user", "content": user}, ensure_ascii=False),
            json.dumps({"role": "assistant", "content": reply}, ensure_ascii=False),
        ]

        async def write(client: aioredis.Redis) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(owner_key, owner, ex=self._ttl)
                pipe.rpush(messages_key, *entries)
                pipe.ltrim(messages_key, -self._max_messages, -1)
                pipe.expire(messages_key, self._ttl)
                await pipe.execute()

        await self._link.run(write, None)

    async def messages(self, conversation_id: str, owner: str) -> list[dict[str, Any]] | None:
        """The stored messages for their owner; None when unknown. Raises when Redis cannot tell."""
        if not VALID_ID.fullmatch(conversation_id):
            return None
        found = await self._link.run(lambda r: self._read(r, conversation_id), None)
        if found is None:
            raise Unavailable
        stored_owner, raw = found
        if stored_owner != owner:
            return None
        return [json.loads(m) for m in raw]

    async def forget(self, conversation_id: str, owner: str) -> bool:
        """Delete it now; False when unknown to this owner. Raises Unavailable when Redis cannot tell."""
        if await self.messages(conversation_id, owner) is None:
            return False
        deleted = await self._link.run(lambda r: r.delete(*_keys(conversation_id)), None)
        if deleted is None:
            raise Unavailable
        return True


class Unavailable(Exception):
    """Redis cannot answer now, and the caller needs an answer (a read or a delete on request)."""
