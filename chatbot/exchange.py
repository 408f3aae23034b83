"""One chat exchange, around the responder: the limits and the daily budget first; then the conversation's
earlier turns, the FAQ entries and, for a first message, the reply cache; afterwards what is kept (the turn,
the tokens spent, the cached reply). Plain and streamed replies go through the same steps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass

from chatbot import texts
from chatbot.auth import Caller
from chatbot.config import Provider, Settings
from chatbot.errors import ApiError
from chatbot.faq import FaqIndex, FaqStore, Hit
from chatbot.llm import Message
from chatbot.metrics import Metrics
from chatbot.replies import Origin, Piece, Prompt, Reply, Responder, replay
from chatbot.state import (
    Check,
    Conversations,
    FaqGaps,
    RateLimits,
    RedisLink,
    ReplyCache,
    Thread,
    TokenBudget,
    address_bucket,
    seconds_to_midnight,
)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A parsed `/chat` body."""

    message: str
    conversation_id: str | None = None
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Exchange:
    """An admitted request, ready to be answered."""

    caller: Caller
    prompt: Prompt
    thread: Thread | None  # None: conversations are off (no Redis configured)
    cache_key: str | None = None  # set when the reply may be cached
    cached: Reply | None = None

    @property
    def conversation_id(self) -> str | None:
        return self.thread.id if self.thread is not None else None


def retrieve(
    index: FaqIndex | None, settings: Settings, message: str, history: Sequence[Message]
) -> tuple[Hit, ...] | None:
    """The FAQ entries for `message`; for a follow-up also those of the topic being discussed ("et le prix ?"
    after a question on delivery). None when no FAQ is configured."""
    if index is None:
        return None
    top_k, min_score = settings.faq_top_k, settings.faq_min_score
    hits = index.search(message, top_k=top_k, min_score=min_score)
    previous = next((str(m["content"]) for m in reversed(history) if m.get("role") == "user"), None)
    if previous is None:
        return tuple(hits)
    best: dict[int, Hit] = {}
    for hit in [*hits, *index.search(f"{previous}\n{message}", top_k=top_k, min_score=min_score)]:
        key = hit.entry.line
        if key not in best or hit.score > best[key].score:
            best[key] = hit
    return tuple(sorted(best.values(), key=lambda h: h.score, reverse=True)[:top_k])


class ChatService:
    """What `/chat` does between parsing the request and writing the answer."""

    def __init__(
        self,
        settings: Settings,
        responder: Responder,
        faq: FaqStore | None,
        link: RedisLink,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._responder = responder
        self._faq = faq
        self.conversations = Conversations(
            link,
            max_turns=settings.conversation_max_turns,
            max_chars=settings.conversation_max_chars,
            ttl=settings.conversation_ttl,
        )
        self.limits = RateLimits(link)
        self.budget = TokenBudget(link, settings.daily_token_budget)
        self.gaps = FaqGaps(link, days=settings.faq_gaps_days) if settings.faq_gaps else None
        cache = ReplyCache(link, settings)
        # Only model replies cost anything: offline answers are cheaper to compute than to fetch.
        self._cache = cache if cache.enabled and settings.provider is Provider.OPENAI else None

    def start(self) -> None:
        self.limits.start()

    def _checks(self, caller: Caller, address: str) -> list[Check]:
        settings, checks = self._settings, []
        if caller.kind == "key" and settings.rate_limit_per_key:
            checks.append(Check("key", settings.rate_limit_per_key, caller.id))
        if caller.kind == "visitor" and settings.rate_limit_per_visitor:
            checks.append(Check("visitor", settings.rate_limit_per_visitor, caller.id))
        if settings.rate_limit_per_ip:
            checks.append(Check("ip", settings.rate_limit_per_ip, address_bucket(address)))
        return checks

    async def enforce(self, checks: list[Check]) -> dict[str, str]:
        """Count a request against `checks`; ApiError(429) with Retry-After past one of them. Returns the
        RateLimit header fields for the response."""
        decision = await self.limits.check(checks)
        if not decision.allowed:
            self._metrics.limited(decision.refused_by or "rate")
            headers = {**decision.headers, "Retry-After": str(decision.retry_after)}
            raise ApiError(429, texts.RATE_LIMITED.format(seconds=decision.retry_after), headers=headers)
        return decision.headers

    async def admit(self, caller: Caller, address: str) -> dict[str, str]:
        """Count the request against its limits; ApiError(429) past one of them or past the daily budget.
        Returns the RateLimit header fields for the response."""
        headers = await self.enforce(self._checks(caller, address))
        if self.budget.daily and self.budget.exhausted(await self.budget.spent(caller.budget)):
            self._metrics.limited("budget")
            raise ApiError(
                429, texts.BUDGET_SPENT, headers={**headers, "Retry-After": str(seconds_to_midnight())}
            )
        return headers

    async def open(self, caller: Caller, chat: ChatRequest) -> Exchange:
        """The conversation, the FAQ entries, and a cached reply when there is one."""
        thread = None
        if self.conversations.available:
            thread = await self.conversations.open(chat.conversation_id, caller.id)
        history = thread.history if thread is not None else ()
        index = self._faq.index if self._faq is not None else None
        prompt = Prompt(chat.message, history, retrieve(index, self._settings, chat.message, history))
        if prompt.hits is not None:
            self._metrics.faq(bool(prompt.hits))
            if not prompt.hits and self.gaps is not None:
                await self.gaps.record(chat.message)
        cache_key = cached = None
        if self._cache is not None and not history:
            cache_key = self._cache.key(chat.message, index.digest if index is not None else "")
            cached = await self._cache.get(cache_key)
            self._metrics.cache(cached is not None)
        return Exchange(caller, prompt, thread, cache_key, cached)

    async def reply(self, exchange: Exchange, *, request_id: str | None) -> Reply:
        started = time.perf_counter()
        reply = exchange.cached or await self._responder.reply(exchange.prompt, request_id=request_id)
        if reply.origin is Origin.MODEL:
            self._metrics.upstream("plain", time.perf_counter() - started)
        await self._keep(exchange, reply)
        return reply

    async def stream(self, exchange: Exchange, *, request_id: str | None) -> AsyncGenerator[Piece, None]:
        """Pieces as they come, then the Reply; only a completed reply is kept (a visitor who leaves, or an
        upstream failing half-way, leaves nothing behind)."""
        if exchange.cached is not None:
            source = replay(exchange.cached)
        else:
            source = self._responder.stream(exchange.prompt, request_id=request_id)
        started = time.perf_counter()
        async with aclosing(source) as pieces:
            async for piece in pieces:
                if isinstance(piece, Reply):
                    if piece.origin is Origin.MODEL:
                        self._metrics.upstream("stream", time.perf_counter() - started)
                    await self._keep(exchange, piece)
                yield piece

    async def _keep(self, exchange: Exchange, reply: Reply) -> None:
        self._metrics.tokens(exchange.caller.label, reply.usage)
        steps = []
        if exchange.thread is not None:
            steps.append(
                self.conversations.keep(
                    exchange.thread, exchange.caller.id, exchange.prompt.message, reply.text
                )
            )
        if reply.tokens:
            steps.append(self.budget.add(exchange.caller.budget, reply.tokens))
        if exchange.cache_key is not None and reply.origin is Origin.MODEL and self._cache is not None:
            steps.append(self._cache.put(exchange.cache_key, reply))
        # Independent writes: one round trip's wait for all of them.
        await asyncio.gather(*steps)
