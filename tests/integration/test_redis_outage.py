"""Redis down, slow or restarted never turns a chat into an error: the chat goes on without history, limits
are kept in each worker's memory, each worker says once that Redis went and once that it came back."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import API_KEY, OLD_KEY, service_env, upstream_requests
from tests.integration.helpers import (
    Record,
    mark,
    only_worker,
    post_chat,
    ready_workers,
    reset_fake,
    settle,
    wait_for_records,
)
from tests.processes import Process, RedisServer, redis_server, service

RATE = 50


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def running(upstream: str, own_redis: RedisServer) -> Iterator[tuple[str, Process]]:
    env = service_env(upstream, REDIS_URL=own_redis.url, RATE_LIMIT_PER_KEY=f"{RATE}/minute", CACHE_TTL="0")
    with service(env) as started:
        ready_workers(started[1], 2)
        yield started


def went_away(record: Record) -> bool:
    return record["severity"] == "WARNING" and str(record["message"]).startswith("Redis unavailable")


def came_back(record: Record) -> bool:
    return record["severity"] == "INFO" and str(record["message"]).startswith("Redis is back")


def key_left(response: httpx.Response) -> int:
    return int(response.headers["ratelimit"].split(";r=")[1].split(";")[0])


def test_a_slow_redis_never_holds_a_chat(running: tuple[str, Process], own_redis: RedisServer) -> None:
    url, proc = running
    since = mark(proc)
    sleeper = subprocess.Popen(
        ["redis-cli", "-p", str(own_redis.port), "DEBUG", "SLEEP", "2"], stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(0.2)  # Redis is asleep now
        for worker in proc.worker_pids():
            with only_worker(proc, worker):
                for _ in range(2):
                    started = time.monotonic()
                    assert post_chat(url, API_KEY, "vite").status_code == 200
                    # One Redis timeout (0.1 s) at most, and the chat; held by Redis it would take ~2 s.
                    assert time.monotonic() - started < 0.5
    finally:
        sleeper.wait(10)
    wait_for_records(proc, came_back, count=2, since=since, timeout=5)  # each worker's probe
    assert len([r for r in settle(url, proc, since) if went_away(r)]) == 2


def test_redis_down_and_back(running: tuple[str, Process], own_redis: RedisServer, upstream: str) -> None:
    url, proc = running
    before = [post_chat(url, OLD_KEY, "avant la panne") for _ in range(5)]
    assert key_left(before[-1]) == RATE - 5  # counted in Redis, across the workers
    cid = before[-1].json()["conversation_id"]
    since = mark(proc)
    own_redis.stop()
    for worker in proc.worker_pids():
        with only_worker(proc, worker):
            reset_fake(upstream)
            answers = [post_chat(url, OLD_KEY, "pendant la panne", conversation_id=cid) for _ in range(3)]
            assert [a.status_code for a in answers] == [200, 200, 200]
            assert answers[0].json()["conversation_id"] == cid  # kept, to go on when Redis is back
            assert [len(r["body"]["messages"]) for r in upstream_requests(upstream)] == [
                2,
                2,
                2,
            ]  # no history
            # Counted in this worker's memory from Redis's loss on: a fresh count.
            assert [key_left(a) for a in answers] == [RATE - 1, RATE - 2, RATE - 3]
            ready = httpx.get(url + "/readyz")
            assert ready.status_code == 200
            assert ready.json()["redis"] == "down"
            transcript = httpx.get(f"{url}/conversations/{cid}", headers={"x-api-key": OLD_KEY})
            assert transcript.status_code == 503
            assert transcript.headers["retry-after"]
    assert len([r for r in settle(url, proc, since) if went_away(r)]) == 2  # once per worker

    own_redis.start()  # the same port, empty
    wait_for_records(proc, came_back, count=2, since=since, timeout=5)
    reset_fake(upstream)
    for worker in proc.worker_pids():
        with only_worker(proc, worker):
            assert httpx.get(url + "/readyz").json()["redis"] == "ok"
            again = post_chat(url, API_KEY, "après la panne").json()["conversation_id"]
            assert post_chat(url, API_KEY, "et ensuite ?", conversation_id=again).status_code == 200
            assert upstream_requests(upstream)[-1]["body"]["messages"][-3]["content"] == "après la panne"
    records = settle(url, proc, since)
    assert len([r for r in records if went_away(r)]) == 2
    assert len([r for r in records if came_back(r)]) == 2
    # (The 503s above have their access lines at ERROR, as every 5xx does.)
    assert not [
        r for r in records if r["severity"] in ("ERROR", "CRITICAL") and r["logger"] != "chatbot.access"
    ]
