"""The Redis client of one worker, and whether Redis answers: while it does not, callers get their fallback.

Redis holds conveniences (history, shared limits, the reply cache), never the service's liveness: a down,
slow or restarted Redis turns each call into its fallback within ~100 ms, says so once, and a background probe
says so again when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from chatbot.state.pipelining import PipeliningRedis

log = logging.getLogger("chatbot.redis")

#: The longest a chat waits for Redis before going on without it (connect, and each read).
TIMEOUT_S = 0.1
PROBE_INTERVAL_S = 1.0
FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)

T = TypeVar("T")


class RedisLink:
    """One client (a connection pool) per worker; `run` calls Redis or returns the fallback."""

    def __init__(self, url: str, on_error: Callable[[], None] = lambda: None) -> None:
        self.url = url
        self._on_error = on_error
        self.client: aioredis.Redis | None = None
        self._up = False
        self._probe: asyncio.Task[None] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def up(self) -> bool:
        return self._up

    @property
    def status(self) -> str:
        """For /readyz: `off` (no REDIS_URL), `ok` or `down`."""
        if not self.url:
            return "off"
        return "ok" if self._up else "down"

    async def start(self) -> None:
        if not self.url:
            return
        self.client = PipeliningRedis.from_url(
            self.url,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            # One immediate retry on a broken connection (a pooled one that a Redis restart closed), none on a
            # timeout: a second wait would double the delay; the probe brings a slow Redis back instead.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            # Pipelining keeps this small: a connection per batch in flight, not per chat.
            max_connections=64,
        )
        try:
            await self.client.ping()
        except FAILURES as error:
            self._lost(error)
            return
        self._up = True

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def run(self, call: Callable[[aioredis.Redis], Awaitable[T]], fallback: T) -> T:
        """`call(client)`, or `fallback` when Redis is off, down, or fails now (then it is marked down)."""
        if not self._up or self.client is None:
            return fallback
        try:
            return await call(self.client)
        except FAILURES as error:
            self._lost(error)
            return fallback

    def failed(self, error: BaseException) -> None:
        """A caller's own Redis call failed (e.g. through a library holding the same pool)."""
        self._lost(error)

    def _lost(self, error: BaseException) -> None:
        self._on_error()
        if self._up or self._probe is None:
            log.warning(
                "Redis unavailable (%s): replying without history, limits kept per worker, cache off until "
                "it is back",
                type(error).__name__,
            )
        self._up = False
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._until_back(), name="redis-probe")

    async def _until_back(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL_S)
            if self.client is None:
                return
            try:
                # Connections opened before the outage are dead if Redis restarted: each probe starts afresh,
                # so that once Redis answers, no visitor's call meets a stale connection (and fails again).
                await self.client.connection_pool.disconnect(inuse_connections=False)
                await self.client.ping()
            except FAILURES:
                continue
            self._up = True
            log.info("Redis is back: history, shared limits and the reply cache resume")
            return
