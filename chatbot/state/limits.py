"""Rate limits per API key, per visitor and per client address, with the `limits` package: on Redis when it
answers (one count across workers and replicas), in this worker's memory otherwise.

Sliding-window counters: exact enough, two small keys per limit, one Lua call per hit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from dataclasses import dataclass
from typing import cast

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from chatbot.config import Rate
from chatbot.state.redis import FAILURES, RedisLink


@dataclass(frozen=True, slots=True)
class Check:
    """One limit to apply: its policy name (`key`, `ip`, `visitor`...), the rate, and whose count it is."""

    policy: str
    rate: Rate
    identity: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome, with the IETF RateLimit-Policy / RateLimit header fields (draft 11) for the response."""

    allowed: bool
    retry_after: int
    headers: dict[str, str]
    refused_by: str | None = None  # the policy that refused it


def address_bucket(address: str) -> str:
    """The client address as counted: IPv4 as is, IPv6 by its /64 (one subscriber holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimits:
    """Apply several limits at once; every one counts the request, the first exhausted one refuses it."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._items: dict[Rate, RateLimitItem] = {}
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._shared: SlidingWindowCounterRateLimiter | None = None

    def start(self) -> None:
        if self._link.client is not None:
            # The link's own pool: same timeouts (no retry, ~100 ms), no second set of connections.
            storage = RedisStorage(
                "async+redis://pooled:6379",  # not used: the pool below holds the address
                implementation="redispy",
                connection_pool=self._link.client.connection_pool,  # type: ignore[arg-type]
                key_prefix="limits",
            )
            # The library makes its own client on that pool; ours pipelines (chatbot/state/pipelining.py),
            # so it takes its place, and the Lua scripts are registered on it again. Pinned `limits` (5.8):
            # a test with a real Redis checks the shared counts.
            client = self._link.client
            storage.bridge.storage = client  # type: ignore[attr-defined]
            storage.bridge.connection_getter = lambda _readonly: client  # type: ignore[attr-defined]
            storage.bridge.register_scripts()
            self._shared = SlidingWindowCounterRateLimiter(storage)

    def _item(self, rate: Rate) -> RateLimitItem:
        item = self._items.get(rate)
        if item is None:
            item = self._items[rate] = parse(str(rate))
        return item

    async def check(self, checks: list[Check]) -> Decision:
        if not checks:
            return Decision(True, 0, {})
        if self._shared is not None and self._link.up:
            try:
                return await self._apply(self._shared, checks)
            except FAILURES as error:
                self._link.failed(error)
        return await self._apply(self._memory, checks)

    async def _apply(self, limiter: SlidingWindowCounterRateLimiter, checks: list[Check]) -> Decision:
        items = [self._item(c.rate) for c in checks]
        pairs = list(zip(items, checks, strict=True))
        # One wait for all: the hits are queued first, so each window's state, read in the same pipelined
        # batch (chatbot/state/pipelining.py) or right after in memory, already counts this request.
        replies = await asyncio.gather(
            *(limiter.hit(item, c.policy, c.identity) for item, c in pairs),
            *(limiter.get_window_stats(item, c.policy, c.identity) for item, c in pairs),
        )
        allowed = cast(list[bool], replies[: len(pairs)])
        stats = cast(list[tuple[float, int]], replies[len(pairs) :])
        now = time.time()
        policies, states = [], []
        retry_after, refused_by = 0, None
        for check, ok, (reset_at, remaining) in zip(checks, allowed, stats, strict=True):
            reset = max(0, math.ceil(reset_at - now))
            policies.append(f'"{check.policy}";q={check.rate.amount};w={check.rate.seconds}')
            states.append(f'"{check.policy}";r={max(0, remaining)};t={reset}')
            if not ok:
                retry_after, refused_by = max(retry_after, reset, 1), refused_by or check.policy
        headers = {"RateLimit-Policy": ", ".join(policies), "RateLimit": ", ".join(states)}
        return Decision(retry_after == 0, retry_after, headers, refused_by)
