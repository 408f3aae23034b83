"""Daily token budgets: the tokens a key (or a widget's publishable key) spent today (UTC), from the usage
the upstream reports. In Redis (`budget:{owner}:YYYYMMDD`, kept two days), in memory while it is down."""

from __future__ import annotations

import datetime as dt
import functools
import time

import redis.asyncio as aioredis

from chatbot.state.redis import RedisLink

_KEPT_S = 2 * 86400


def today() -> str:
    """The UTC date as YYYYMMDD (asked for on every chat: formatted once a day)."""
    return _date(int(time.time() // 86400))


@functools.lru_cache(maxsize=4)
def _date(day_number: int) -> str:
    return dt.datetime.fromtimestamp(day_number * 86400, dt.UTC).strftime("%Y%m%d")


def seconds_to_midnight() -> int:
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()))


class TokenBudget:
    """DAILY_TOKEN_BUDGET per owner; 0 turns the check off (usage is still counted, for GET /usage)."""

    def __init__(self, link: RedisLink, daily: int) -> None:
        self._link = link
        self.daily = daily
        self._memory: dict[tuple[str, str], int] = {}

    def _key(self, owner: str, day: str) -> str:
        return f"budget:{{{owner}}}:{day}"

    async def spent(self, owner: str) -> int:
        day = today()
        local = self._memory.get((owner, day), 0)
        stored = await self._link.run(lambda r: r.get(self._key(owner, day)), None)
        return local + (int(stored) if stored is not None else 0)

    def exhausted(self, spent: int) -> bool:
        return self.daily > 0 and spent >= self.daily

    async def add(self, owner: str, tokens: int) -> None:
        if tokens <= 0:
            return
        day = today()
        key = self._key(owner, day)

        async def count(client: aioredis.Redis) -> bool:
            if await client.incrby(key, tokens) == tokens:
                await client.expire(key, _KEPT_S)  # the day's first count: the key is new
            return True

        if not await self._link.run(count, False):
            # Counted here until Redis is back; yesterday's entries go when the day changes.
            if any(k[1] != day for k in self._memory):
                self._memory = {k: v for k, v in self._memory.items() if k[1] == day}
            self._memory[(owner, day)] = self._memory.get((owner, day), 0) + tokens
