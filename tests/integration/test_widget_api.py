"""The widget's side of the API: a publishable key and an allowed site give a visitor token; the token works
from that site only, on the widget's routes only; its spend counts against the publishable key; feedback is
kept as a log record shipped to Cloud Logging with the request id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import API_KEY, service_env
from tests.integration.test_logs import wait_for_entries
from tests.processes import Process, RedisServer, fake_cloud_logging, service

SITE = "https://shop.example"
PK = "pk_test_0123456789abcdef"


@pytest.fixture(scope="module")
def widget(upstream: str, redis: RedisServer) -> Iterator[tuple[str, Process, str]]:
    with fake_cloud_logging() as logging_url:
        env = service_env(
            upstream,
            REDIS_URL=redis.url,
            WIDGET_KEY=f"{PK},pk_test_retiring_000000",
            WIDGET_ORIGINS=f"{SITE},https://other.example",
            WIDGET_SECRET="s" * 32,
            RATE_LIMIT_PER_VISITOR="3/minute",
            RATE_LIMIT_WIDGET_SESSION="off",  # one address asks for many tokens here (see the test below)
            RATE_LIMIT_PER_IP="off",
            DAILY_TOKEN_BUDGET="100000",
            GOOGLE_CLOUD_LOGGING="true",
            CLOUD_LOGGING_ENDPOINT=logging_url,
            GOOGLE_CLOUD_PROJECT="widget-test",
        )
        with service(env) as (url, proc):
            yield url, proc, logging_url


def session(url: str, origin: str | None = SITE, key: str = PK, **extra: Any) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    return httpx.post(f"{url}/widget/session", json={"key": key, **extra}, headers=headers)


def visitor(url: str) -> dict[str, str]:
    token = session(url).json()["token"]
    return {"Authorization": f"Bearer {token}", "Origin": SITE}


def test_a_token_for_an_allowed_site_and_key(widget: tuple[str, Process, str]) -> None:
    response = session(widget[0])
    assert response.status_code == 200
    assert response.json()["expires_in"] == 3600
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("origin", "key"),
    [(SITE, "pk_test_wrong_0000000000"), ("https://evil.example", PK), (None, PK), (SITE, API_KEY)],
)
def test_a_wrong_key_or_site_is_refused(
    widget: tuple[str, Process, str], origin: str | None, key: str
) -> None:
    response = session(widget[0], origin, key)
    assert response.status_code == 403
    assert response.json() == {"error": "Clé publique invalide ou site non autorisé."}
    if origin != SITE:
        # An unlisted site's browser does not even get to read that answer.
        assert "access-control-allow-origin" not in response.headers


def test_the_token_works_from_its_site_only_and_on_the_widgets_routes_only(
    widget: tuple[str, Process, str],
) -> None:
    url = widget[0]
    headers = visitor(url)
    chat = httpx.post(f"{url}/chat", json={"message": "Bonjour"}, headers=headers)
    assert chat.status_code == 200
    conversation = chat.json()["conversation_id"]
    assert httpx.get(f"{url}/conversations/{conversation}", headers=headers).status_code == 200
    elsewhere = {**headers, "Origin": "https://other.example"}
    refused = httpx.post(f"{url}/chat", json={"message": "Bonjour"}, headers=elsewhere)
    assert refused.status_code == 403
    assert refused.json() == {"error": "Ce jeton de visiteur appartient à un autre site."}
    # Not a key: the owner's routes refuse it.
    assert httpx.get(f"{url}/usage", headers=headers).status_code == 401
    assert httpx.get(f"{url}/reports/faq-gaps", headers=headers).status_code == 401
    # The visitor's conversation is not the key holder's, nor another visitor's.
    assert httpx.get(f"{url}/conversations/{conversation}", headers={"x-api-key": API_KEY}).status_code == 404
    assert httpx.get(f"{url}/conversations/{conversation}", headers=visitor(url)).status_code == 404


def test_a_renewed_token_keeps_the_visitor_and_its_conversations(widget: tuple[str, Process, str]) -> None:
    url = widget[0]
    first = session(url).json()["token"]
    headers = {"Authorization": f"Bearer {first}", "Origin": SITE}
    conversation = httpx.post(f"{url}/chat", json={"message": "Bonjour"}, headers=headers).json()[
        "conversation_id"
    ]
    renewed = session(url, visitor=first).json()["token"]
    again = {"Authorization": f"Bearer {renewed}", "Origin": SITE}
    assert httpx.get(f"{url}/conversations/{conversation}", headers=again).status_code == 200


def test_a_forged_or_altered_token_is_refused(widget: tuple[str, Process, str]) -> None:
    url = widget[0]
    token = session(url).json()["token"]
    for forged in (token[:-2] + "xx", "v1.e30.abc", "not-a-token"):
        response = httpx.post(
            f"{url}/chat",
            json={"message": "Bonjour"},
            headers={"Authorization": f"Bearer {forged}", "Origin": SITE},
        )
        assert response.status_code == 401
        assert response.json() == {"error": "Jeton de visiteur invalide ou expiré."}


def test_each_visitor_has_its_own_limit(widget: tuple[str, Process, str]) -> None:
    url = widget[0]
    headers = visitor(url)
    statuses = [
        httpx.post(f"{url}/chat", json={"message": f"q{n}"}, headers=headers).status_code for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    assert httpx.post(f"{url}/chat", json={"message": "q"}, headers=visitor(url)).status_code == 200


def test_token_issuance_is_limited_per_address(upstream: str, redis: RedisServer) -> None:
    env = service_env(
        upstream,
        REDIS_URL=redis.url,
        WIDGET_KEY=PK,
        WIDGET_ORIGINS=SITE,
        RATE_LIMIT_WIDGET_SESSION="2/minute",
    )
    with service(env) as (url, _):
        statuses = [session(url).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_the_widgets_spend_counts_against_the_publishable_key(widget: tuple[str, Process, str]) -> None:
    url = widget[0]
    before = httpx.get(f"{url}/usage", headers={"x-api-key": API_KEY}).json()["tokens_today"]
    httpx.post(f"{url}/chat", json={"message": "Bonjour"}, headers=visitor(url)).raise_for_status()
    # The key holder's own budget is untouched; the visitors all share the publishable key's.
    assert httpx.get(f"{url}/usage", headers={"x-api-key": API_KEY}).json()["tokens_today"] == before


def test_feedback_is_a_log_record_shipped_with_the_request_id(widget: tuple[str, Process, str]) -> None:
    url, _, logging_url = widget
    headers = visitor(url)
    conversation = httpx.post(f"{url}/chat", json={"message": "Bonjour"}, headers=headers).json()[
        "conversation_id"
    ]
    body = {"conversation_id": conversation, "rating": "down", "comment": "Pas clair"}
    response = httpx.post(f"{url}/feedback", json=body, headers={**headers, "X-Request-ID": "feedback-req-1"})
    assert response.status_code == 204

    def shipped(entries: list[dict[str, Any]]) -> bool:
        return any(e.get("labels", {}).get("request_id") == "feedback-req-1" for e in entries)

    (entry,) = [
        e
        for e in wait_for_entries(logging_url, shipped)
        if e.get("labels", {}).get("request_id") == "feedback-req-1"
        and e["jsonPayload"].get("logger") == "chatbot.feedback"
    ]
    assert entry["jsonPayload"]["rating"] == "down"
    assert entry["jsonPayload"]["comment"] == "Pas clair"
    assert entry["jsonPayload"]["conversation_id"] == conversation
    assert entry["severity"] in ("INFO", 200)  # the API's enum, by name or by number


@pytest.mark.parametrize(
    "body",
    [
        {"conversation_id": "x", "rating": "up"},
        {"conversation_id": "abcdefghijklmnop", "rating": "meh"},
        {"conversation_id": "abcdefghijklmnop", "rating": "up", "comment": 3},
        {"conversation_id": "abcdefghijklmnop", "rating": "up", "comment": "x" * 1001},
    ],
)
def test_bad_feedback_says_what_is_wrong(widget: tuple[str, Process, str], body: dict[str, Any]) -> None:
    response = httpx.post(f"{widget[0]}/feedback", json=body, headers={"x-api-key": API_KEY})
    assert response.status_code == 400
    assert response.json()["error"]


def test_feedback_on_someone_elses_conversation_is_not_found(widget: tuple[str, Process, str]) -> None:
    url = widget[0]
    conversation = httpx.post(f"{url}/chat", json={"message": "Bonjour"}, headers=visitor(url)).json()[
        "conversation_id"
    ]
    body = {"conversation_id": conversation, "rating": "up"}
    assert httpx.post(f"{url}/feedback", json=body, headers=visitor(url)).status_code == 404
