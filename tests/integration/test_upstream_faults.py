"""Upstream faults are mapped to 502/503/504 JSON; no upstream text, trace or key reaches the client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import API_KEY, UPSTREAM_KEY, service_env, upstream_requests
from tests.integration.helpers import for_request, wait_for_records
from tests.processes import Process, free_port, service

UNAVAILABLE = "Le service de langage est indisponible, réessayez plus tard."
BAD = "Le service de langage a renvoyé une réponse invalide."
REJECTED = "Le service de langage a refusé la requête du chatbot."


def assert_clean(response: httpx.Response) -> None:
    """Nothing from upstream, no trace, no key in what the client sees."""
    body = response.text
    assert list(response.json()) == ["error"]
    for leak in (
        "Traceback",
        "rate_limit",
        "server_error",
        "Incorrect API key",
        UPSTREAM_KEY,
        "sk-",
        "<html",
    ):
        assert leak not in body


@pytest.mark.parametrize(
    ("fault", "status", "error", "attempts"),
    [
        ("500", 502, UNAVAILABLE, 3),
        ("close", 502, UNAVAILABLE, 3),
        ("invalid", 502, BAD, 1),
        ("html", 502, BAD, 1),
        ("401", 502, REJECTED, 1),
    ],
)
def test_upstream_faults_become_502(
    client: httpx.Client, upstream: str, fault: str, status: int, error: str, attempts: int
) -> None:
    response = client.post("/chat", json={"message": f"#fault:{fault}"})
    assert response.status_code == status
    assert response.json() == {"error": error}
    assert_clean(response)
    # Retryable faults are retried OPENAI_MAX_RETRIES (2) times, the others never.
    assert len(upstream_requests(upstream)) == attempts


def test_a_transient_failure_is_retried_and_the_visitor_gets_the_reply(
    client: httpx.Client, upstream: str
) -> None:
    response = client.post("/chat", json={"message": "#fault:flaky once"})
    assert response.status_code == 200
    assert response.json() == {"reply": "Echo: #fault:flaky once"}
    assert len(upstream_requests(upstream)) == 2


def test_rate_limit_becomes_503_with_retry_after(client: httpx.Client, upstream: str) -> None:
    started = time.monotonic()
    response = client.post("/chat", json={"message": "#fault:429"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"error": "Le service de langage est saturé, réessayez plus tard."}
    assert_clean(response)
    # The upstream asked for 7 s: longer than a visitor should wait, so no retry, an immediate answer.
    assert time.monotonic() - started < 1
    assert len(upstream_requests(upstream)) == 1


def test_no_answer_within_the_timeout_becomes_504(client: httpx.Client, base_url: str) -> None:
    started = time.monotonic()
    response = client.post("/chat", json={"message": "#fault:slow"})
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json() == {"error": "Le service de langage n'a pas répondu à temps."}
    assert 1.4 < elapsed < 3.5  # OPENAI_TIMEOUT=1.5, not retried
    # The service stays up and answers the next visitor.
    assert client.post("/chat", json={"message": "still there?"}).status_code == 200
    assert httpx.get(base_url + "/healthz").status_code == 200


@pytest.fixture(scope="module")
def refused() -> Iterator[str]:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with service(service_env(dead, OPENAI_MAX_RETRIES="1")) as (url, _):
        yield url


def test_connection_refused_becomes_502(refused: str) -> None:
    response = httpx.post(refused + "/chat", json={"message": "hi"}, headers={"x-api-key": API_KEY})
    assert response.status_code == 502
    assert response.json() == {"error": UNAVAILABLE}
    assert_clean(response)


def test_connection_refused_becomes_502_with_the_sdk_too() -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with service(service_env(dead, OPENAI_CLIENT="sdk", OPENAI_MAX_RETRIES="0", WORKERS="1")) as (url, _):
        response = httpx.post(url + "/chat", json={"message": "hi"}, headers={"x-api-key": API_KEY})
    assert response.status_code == 502
    assert response.json() == {"error": UNAVAILABLE}


def test_faults_are_logged_with_their_cause_and_no_secret(client: httpx.Client, proc: Process) -> None:
    rid = "fault-log-check-1"
    client.post("/chat", json={"message": "#fault:500"}, headers={"x-request-id": rid})
    mine = for_request(rid)
    wait_for_records(proc, lambda r: mine(r) and r["severity"] == "WARNING" and "retrying" in r["message"])
    wait_for_records(
        proc,
        lambda r: mine(r) and r["severity"] == "ERROR" and r.get("cause") == "upstream answered HTTP 500",
    )
    assert UPSTREAM_KEY not in proc.output


@pytest.mark.parametrize(
    ("message", "status"),
    [("hello", 200), ("#fault:500", 502), ("#fault:invalid", 502), ("#fault:401", 502), ("#fault:429", 503)],
)
def test_the_openai_sdk_client_keeps_the_same_contract(
    sdk_svc: tuple[str, Process], message: str, status: int
) -> None:
    response = httpx.post(
        sdk_svc[0] + "/chat", json={"message": message}, headers={"x-api-key": API_KEY}, timeout=30
    )
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"reply": "Echo: hello"}
    else:
        assert_clean(response)


def test_a_visitor_who_leaves_is_not_an_error(base_url: str, proc: Process) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            base_url + "/chat",
            json={"message": "#fault:slow"},
            headers={"x-api-key": API_KEY, "x-request-id": "rid-gone-1"},
            timeout=0.3,
        )
    mine = for_request("rid-gone-1")
    wait_for_records(proc, lambda r: mine(r) and "client closed the connection" in r["message"])
    assert not any(r["severity"] == "ERROR" for r in wait_for_records(proc, mine)), proc.output
