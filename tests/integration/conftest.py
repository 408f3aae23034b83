"""The real service over HTTP, against a fake OpenAI server speaking the real protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import Process, RedisServer, fake_openai, redis_server, service

API_KEY = "test-key-0123456789abcdef"
OLD_KEY = "old-key-rotated-out-soon-42"
UPSTREAM_KEY = "sk-upstream-secret-do-not-log-7f3a"
#: A small bilingual shop FAQ (12 entries), for grounding and offline answers.
SHOP_FAQ = Path(__file__).parents[1] / "unit" / "data" / "faq_shop.md"
CONVERSATION_TTL = 120


@pytest.fixture(scope="session")
def upstream() -> Iterator[str]:
    with fake_openai("--api-key", UPSTREAM_KEY, "--slow-seconds", "5") as url:
        yield url


def service_env(upstream: str, **overrides: str) -> dict[str, str]:
    env = {
        "API_KEY": f"{API_KEY},{OLD_KEY}",
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "OPENAI_BASE_URL": upstream,
        "OPENAI_MODEL": "gpt-test-mini",
        "OPENAI_TIMEOUT": "1.5",
        "SYSTEM_PROMPT": "Tu es l'assistant du site.",
        "WORKERS": "2",
        # Every test comes from 127.0.0.1 with one key: limits are on only where a test is about them.
        "RATE_LIMIT_PER_KEY": "off",
        "RATE_LIMIT_PER_IP": "off",
    }
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """A real Redis for the session; tests that need a clean one flush it."""
    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def svc(upstream: str) -> Iterator[tuple[str, Process]]:
    with service(service_env(upstream)) as running:
        yield running


@pytest.fixture(scope="session")
def sdk_svc(upstream: str) -> Iterator[tuple[str, Process]]:
    """The same service with the openai SDK as its upstream client (no retries: faults show at once)."""
    with service(service_env(upstream, OPENAI_CLIENT="sdk", OPENAI_MAX_RETRIES="0")) as running:
        yield running


@pytest.fixture(scope="session")
def uncached_svc(upstream: str, redis: RedisServer) -> Iterator[tuple[str, Process]]:
    """Redis, the shop FAQ, short conversations (2 turns, CONVERSATION_TTL), and CACHE_TTL=0: no reply cache,
    so that every message reaches the fake."""
    env = service_env(
        upstream,
        REDIS_URL=redis.url,
        FAQ_FILE=str(SHOP_FAQ),
        CONVERSATION_MAX_TURNS="2",
        CONVERSATION_TTL=str(CONVERSATION_TTL),
        CACHE_TTL="0",
        WORKERS="1",
    )
    with service(env) as running:
        yield running


@pytest.fixture(scope="session")
def offline_svc(redis: RedisServer) -> Iterator[tuple[str, Process]]:
    """FAQ-only mode (no model) with Redis: offline replies keep conversations too."""
    env = {
        "API_KEY": f"{API_KEY},{OLD_KEY}",
        "FAQ_FILE": str(SHOP_FAQ),
        "REDIS_URL": redis.url,
        "WORKERS": "1",
    }
    env |= {"RATE_LIMIT_PER_KEY": "off", "RATE_LIMIT_PER_IP": "off"}
    with service(env) as running:
        yield running


@pytest.fixture
def base_url(svc: tuple[str, Process]) -> str:
    return svc[0]


@pytest.fixture
def proc(svc: tuple[str, Process]) -> Process:
    return svc[1]


@pytest.fixture
def client(base_url: str, upstream: str) -> Iterator[httpx.Client]:
    httpx.post(upstream.removesuffix("/v1") + "/_fake/reset")
    with httpx.Client(base_url=base_url, timeout=15, headers={"x-api-key": API_KEY}) as c:
        yield c


def upstream_requests(upstream: str) -> list[dict[str, Any]]:
    return list(httpx.get(upstream.removesuffix("/v1") + "/_fake/requests").json())
