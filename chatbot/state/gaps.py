"""What the FAQ misses (FAQ_GAPS=true): the questions that matched no entry, normalised and counted per day
(`gaps:YYYYMMDD`, a sorted set), with the ratings their replies got (`gapfb:YYYYMMDD`, a hash), both expiring
after FAQ_GAPS_DAYS. Nothing else is kept: no address, no key, no conversation. Off by default, because
visitors' words are personal data."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass

import redis.asyncio as aioredis

from chatbot.state.budget import today
from chatbot.state.cache import normalise
from chatbot.state.redis import RedisLink

MAX_CHARS = 300
_PER_DAY = 1000
_EDGES = re.compile(r"^[\s\W_]+|[\s?!.…]+$")


def gap_text(message: str) -> str:
    """A question as it is counted: case, spacing and trailing punctuation do not make another one."""
    return _EDGES.sub("", normalise(message))[:MAX_CHARS]


@dataclass(frozen=True, slots=True)
class Gap:
    question: str
    count: int
    up: int
    down: int


class FaqGaps:
    def __init__(self, link: RedisLink, *, days: int) -> None:
        self._link = link
        self._days = days
        self._memory: Counter[str] = Counter()  # this worker's own, while Redis is off or down
        self._ratings: Counter[str] = Counter()

    def _days_back(self) -> list[str]:
        now = dt.datetime.now(dt.UTC)
        return [(now - dt.timedelta(days=n)).strftime("%Y%m%d") for n in range(self._days)]

    async def record(self, message: str) -> None:
        question = gap_text(message)
        if not question:
            return
        day = today()

        async def count(client: aioredis.Redis) -> bool:
            async with client.pipeline(transaction=False) as pipe:
                pipe.zincrby(f"gaps:{day}", 1, question)
                pipe.expire(f"gaps:{day}", self._days * 86400)
                await pipe.execute()
            return True

        if not await self._link.run(count, False):
            self._memory[question] += 1

    async def rated(self, message: str, rating: str) -> None:
        """A reply to `message` was rated: counted when `message` is a gap."""
        question, day = gap_text(message), today()
        field = f"{rating}\0{question}"

        async def count(client: aioredis.Redis) -> bool:
            if await client.zscore(f"gaps:{day}", question) is None:
                return True  # not a gap: the FAQ answered it
            async with client.pipeline(transaction=False) as pipe:
                pipe.hincrby(f"gapfb:{day}", field, 1)
                pipe.expire(f"gapfb:{day}", self._days * 86400)
                await pipe.execute()
            return True

        if not await self._link.run(count, False) and question in self._memory:
            self._ratings[field] += 1

    async def report(self, limit: int) -> list[Gap]:
        """The gaps of the last FAQ_GAPS_DAYS days, most frequent first."""
        days = self._days_back()

        async def read(client: aioredis.Redis) -> tuple[Counter[str], Counter[str]]:
            async with client.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.zrevrange(f"gaps:{day}", 0, _PER_DAY - 1, withscores=True)
                    pipe.hgetall(f"gapfb:{day}")
                replies = await pipe.execute()
            counts: Counter[str] = Counter()
            ratings: Counter[str] = Counter()
            for ranked, rated in zip(replies[::2], replies[1::2], strict=True):
                for question, score in ranked:
                    counts[question.decode()] += int(score)
                for field, value in rated.items():
                    ratings[field.decode()] += int(value)
            return counts, ratings

        empty: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
        counts, ratings = await self._link.run(read, empty)
        counts.update(self._memory)
        ratings.update(self._ratings)
        return [
            Gap(question, count, ratings[f"up\0{question}"], ratings[f"down\0{question}"])
            for question, count in counts.most_common(limit)
        ]
