"""Rate limits per key and per client address (shared by the workers through Redis, per worker without it),
announced in IETF RateLimit headers; the daily token budget, and GET /usage."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import API_KEY, OLD_KEY, service_env
from tests.integration.helpers import is_access, only_worker, post_chat, ready_workers, wait_for_records
from tests.processes import Process, RedisServer, redis_server, service

BUDGET = 60
BUDGET_SPENT = "Le budget quotidien de ce chatbot est épuisé ; réessayez demain."
# draft-ietf-httpapi-ratelimit-headers-11: a list of policies, then the state of each.
STATE = re.compile(r'"(\w+)";r=(\d+);t=(\d+)')


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def limited(upstream: str, own_redis: RedisServer) -> Iterator[tuple[str, Process]]:
    env = service_env(
        upstream, REDIS_URL=own_redis.url, RATE_LIMIT_PER_KEY="3/minute", RATE_LIMIT_PER_IP="5/minute"
    )
    with service(env) as running:
        yield running


@pytest.fixture(scope="module")
def memory_only(upstream: str) -> Iterator[tuple[str, Process]]:
    env = service_env(upstream, RATE_LIMIT_PER_KEY="off", RATE_LIMIT_PER_IP="3/minute")
    with service(env) as running:
        yield running


def remaining(response: httpx.Response) -> dict[str, int]:
    return {name: int(left) for name, left, _ in STATE.findall(response.headers["ratelimit"])}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/json"  # a stream asked for, refused at once
    seconds = int(response.headers["retry-after"])
    assert 1 <= seconds <= 60
    assert response.json() == {"error": f"Trop de requêtes : réessayez dans {seconds} s."}


def test_every_chat_answer_announces_the_limits(limited: tuple[str, Process], own_redis: RedisServer) -> None:
    url = limited[0]
    own_redis.command("FLUSHALL")
    answers = [
        post_chat(url, API_KEY, "bonjour"),
        post_chat(url, API_KEY, "bonjour", stream=True),
        httpx.post(url + "/chat", json={"msg": "no message"}, headers={"x-api-key": API_KEY}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 400]
    for number, answer in enumerate(answers, 1):
        assert answer.headers["ratelimit-policy"] == '"key";q=3;w=60, "ip";q=5;w=60'
        assert remaining(answer) == {"key": 3 - number, "ip": 5 - number}
        assert all(0 <= int(t) <= 60 for *_, t in STATE.findall(answer.headers["ratelimit"]))


def test_limits_are_counted_once_across_the_workers(
    limited: tuple[str, Process], own_redis: RedisServer
) -> None:
    url, proc = limited
    first, second = ready_workers(proc, 2)
    own_redis.command("FLUSHALL")
    with only_worker(proc, first):
        assert [post_chat(url, API_KEY, "un").status_code for _ in range(2)] == [200, 200]
    with only_worker(proc, second):
        assert post_chat(url, API_KEY, "deux").status_code == 200
        # This worker's own count is 1: Redis holds the 3.
        refused = post_chat(url, API_KEY, "trois", stream=True)
    assert_refused(refused)
    assert remaining(refused)["key"] == 0
    assert own_redis.command("KEYS", "limits*").strip()
    # Another key has its own count, but the address has been seen 4 times of 5 (refusals count too).
    assert post_chat(url, OLD_KEY, "autre clé").status_code == 200
    by_address = post_chat(url, OLD_KEY, "autre clé")
    assert_refused(by_address)
    assert remaining(by_address) == {"key": 1, "ip": 0}


def test_without_redis_each_worker_counts_on_its_own(memory_only: tuple[str, Process]) -> None:
    url, proc = memory_only
    if time.time() % 60 > 58:  # in memory, windows are whole minutes: do not straddle two of them
        time.sleep(60 - time.time() % 60 + 0.1)
    for worker in ready_workers(proc, 2):
        with only_worker(proc, worker):
            answers = [post_chat(url, API_KEY, "bonjour") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert_refused(answers[-1])
        assert answers[0].headers["ratelimit-policy"] == '"ip";q=3;w=60'  # RATE_LIMIT_PER_KEY=off


@pytest.fixture(scope="module")
def budgeted(upstream: str, own_redis: RedisServer) -> Iterator[tuple[str, Process]]:
    env = service_env(
        upstream, REDIS_URL=own_redis.url, DAILY_TOKEN_BUDGET=str(BUDGET), CACHE_TTL="0", WORKERS="1"
    )
    with service(env) as running:
        yield running


def usage(url: str, key: str) -> dict[str, int]:
    response = httpx.get(url + "/usage", headers={"x-api-key": key})
    assert response.status_code == 200
    body: dict[str, int] = response.json()
    return body


def test_past_the_daily_budget_chat_is_refused_until_tomorrow(
    budgeted: tuple[str, Process], own_redis: RedisServer
) -> None:
    url, proc = budgeted
    own_redis.command("FLUSHALL")
    assert usage(url, API_KEY) == {"tokens_today": 0, "budget": BUDGET}
    spent = 0
    for _ in range(10):
        rid = f"budget-{uuid.uuid4().hex[:8]}"
        response = httpx.post(
            url + "/chat",
            json={"message": "Combien coûte une baguette ?"},
            headers={"x-api-key": API_KEY, "x-request-id": rid},
        )
        if spent >= BUDGET:
            break
        assert response.status_code == 200, response.text
        (access,) = wait_for_records(proc, is_access(rid))
        spent += access["usage"]["total_tokens"]  # what the upstream said this reply cost
        assert usage(url, API_KEY) == {"tokens_today": spent, "budget": BUDGET}
    assert response.status_code == 429
    assert response.json() == {"error": BUDGET_SPENT}
    assert 1 <= int(response.headers["retry-after"]) <= 86400  # until midnight UTC
    streamed = post_chat(url, API_KEY, "Et en flux ?", stream=True)
    assert streamed.status_code == 429
    assert streamed.json() == {"error": BUDGET_SPENT}
    # The budget is the key's: another key still chats, and has spent nothing.
    assert usage(url, OLD_KEY) == {"tokens_today": 0, "budget": BUDGET}
    assert post_chat(url, OLD_KEY, "Et un croissant ?").status_code == 200


def test_usage_needs_a_key(budgeted: tuple[str, Process]) -> None:
    response = httpx.get(budgeted[0] + "/usage")
    assert response.status_code == 401
    assert response.json() == {"error": "Clé API invalide ou manquante."}
