"""What an owner sees: Prometheus metrics that move with real traffic (one view across workers, kept through a
worker's death, never reachable through a proxy), and the report of the questions the FAQ did not answer."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import API_KEY, service_env
from tests.integration.test_faq_service import SHOP_FAQ
from tests.processes import Process, RedisServer, service

KEY = {"x-api-key": API_KEY}
_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$")


def metrics(url: str) -> dict[str, float]:
    """`name{labels}` -> value, every sample of one scrape."""
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if match := _SAMPLE.match(line):
            labels = ",".join(sorted((match[2] or "{}")[1:-1].split(","))) if match[2] else ""
            samples[f"{match[1]}{{{labels}}}"] = float(match[3])
    return samples


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    wanted = ",".join(sorted(f'{k}="{v}"' for k, v in labels.items()))
    return samples.get(f"{name}{{{wanted}}}", 0.0)


@pytest.fixture(scope="module")
def owner(upstream: str, redis: RedisServer) -> Iterator[tuple[str, Process]]:
    env = service_env(
        upstream,
        REDIS_URL=redis.url,
        FAQ_FILE=str(SHOP_FAQ),
        FAQ_GAPS="true",
        RATE_LIMIT_PER_IP="off",
        RATE_LIMIT_PER_KEY="40/minute",
        SYSTEM_PROMPT="",
    )
    with service(env) as running:
        yield running


def chat(url: str, message: str, **fields: str) -> httpx.Response:
    return httpx.post(f"{url}/chat", json={"message": message, **fields}, headers=KEY)


def test_metrics_move_with_traffic(owner: tuple[str, Process]) -> None:
    url = owner[0]
    before = metrics(url)
    chat(url, "Livrez-vous à domicile ?").raise_for_status()
    chat(url, "Livrez-vous à domicile ?").raise_for_status()  # a cache hit
    chat(url, "Quelle est la recette de la pizza ?").raise_for_status()  # the FAQ has nothing
    assert httpx.post(f"{url}/chat", json={}, headers=KEY).status_code == 400
    after = metrics(url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("chatbot_http_requests_total", route="/chat", method="POST", status="200") == 3
    assert moved("chatbot_http_requests_total", route="/chat", method="POST", status="400") == 1
    assert moved("chatbot_http_request_duration_seconds_count", route="/chat") == 4
    assert moved("chatbot_upstream_request_duration_seconds_count", mode="plain") == 2
    assert moved("chatbot_cache_requests_total", result="hit") == 1
    assert moved("chatbot_faq_lookups_total", result="matched") == 2
    assert moved("chatbot_faq_lookups_total", result="unmatched") == 1
    # Tokens by key: its short fingerprint, never the key itself.
    text = httpx.get(f"{url}/metrics").text
    assert API_KEY not in text
    assert re.search(r'chatbot_tokens_total\{direction="in",key="key-[0-9a-f]{8}"\} [1-9]', text)


def test_limits_and_upstream_faults_are_counted(owner: tuple[str, Process]) -> None:
    url = owner[0]
    before = metrics(url)
    assert chat(url, "#fault:500 boom").status_code == 502
    after = metrics(url)
    assert (
        value(after, "chatbot_upstream_faults_total", fault="unavailable")
        - value(before, "chatbot_upstream_faults_total", fault="unavailable")
        == 1
    )


def test_metrics_are_never_served_through_a_proxy(owner: tuple[str, Process]) -> None:
    response = httpx.get(f"{owner[0]}/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 404
    assert response.json() == {"error": "Ressource introuvable."}


def test_a_dead_worker_takes_no_count_with_it(owner: tuple[str, Process]) -> None:
    url, proc = owner
    for n in range(6):
        chat(url, f"Livrez-vous le dimanche ? {n}").raise_for_status()
    before = value(metrics(url), "chatbot_http_requests_total", route="/chat", method="POST", status="200")
    os.kill(proc.worker_pids()[0], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while len(proc.worker_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    after = value(metrics(url), "chatbot_http_requests_total", route="/chat", method="POST", status="200")
    assert after >= before  # totals never go back: a dead worker's values stay in the sum


def test_the_gaps_report_lists_unanswered_questions_by_frequency(owner: tuple[str, Process]) -> None:
    url = owner[0]
    for message in ("Vendez-vous des pizzas ?", "  vendez-vous des PIZZAS ??", "Qui a gagné le match hier ?"):
        chat(url, message).raise_for_status()
    rated = chat(url, "Réparez-vous les vélos ?").json()["conversation_id"]
    body = {"conversation_id": rated, "rating": "down"}
    assert httpx.post(f"{url}/feedback", json=body, headers=KEY).status_code == 204
    report = httpx.get(f"{url}/reports/faq-gaps", headers=KEY).json()
    assert report["enabled"] is True
    assert report["days"] == 30
    gaps = {g["question"]: g for g in report["gaps"]}
    assert gaps["vendez-vous des pizzas"]["count"] == 2
    assert gaps["qui a gagné le match hier"]["count"] == 1
    assert gaps["réparez-vous les vélos"] == {
        "question": "réparez-vous les vélos",
        "count": 1,
        "up": 0,
        "down": 1,
    }
    # Most frequent first; questions the FAQ answered are not gaps.
    assert report["gaps"][0]["question"] == "vendez-vous des pizzas"
    assert not any("livrez" in q for q in gaps)
    assert httpx.get(f"{url}/reports/faq-gaps", params={"limit": 0}, headers=KEY).status_code == 400
