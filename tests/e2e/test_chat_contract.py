"""The chatbot's contract as a client sees it through Nginx over HTTPS, with the fake OpenAI upstream."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.timeout(600)

INVALID_KEY = {"error": "Clé API invalide ou manquante."}
MISSING = {"error": "Message manquant dans la requête."}
TOO_LARGE = {"error": "Requête trop volumineuse."}


def _chat(stack: Stack, body: bytes | dict[str, object], **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with stack.client() as client:
        return client.post(
            "/chat",
            content=content,
            headers={"Content-Type": "application/json", "x-api-key": stack.api_key, **headers},
        )


def test_banner_health_and_readiness_need_no_key(stack: Stack) -> None:
    with stack.client() as client:
        banner = client.get("/")
        health = client.get("/healthz")
        ready = client.get("/readyz")
    assert banner.status_code == 200
    assert banner.headers["content-type"].startswith("text/plain")
    assert banner.text == "Chatbot MVP est en cours d'exécution."
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert isinstance(ready.json(), dict)


def test_swagger_ui_and_openapi_document_are_served(stack: Stack) -> None:
    with stack.client() as client:
        ui = client.get("/api-docs")
        document = client.get("/api-docs/openapi.json")
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()
    assert document.status_code == 200
    assert "/chat" in document.json()["paths"]


def test_chat_answers_from_the_upstream_model(stack: Stack, fake_openai: httpx.Client) -> None:
    response = _chat(stack, {"message": "Bonjour, quels sont vos horaires ?"})
    assert response.status_code == 200, response.text
    assert response.json()["reply"] == "Echo: Bonjour, quels sont vos horaires ?"
    # With the stack's Redis, every reply belongs to a conversation.
    assert set(response.json()) == {"reply", "conversation_id"}
    [upstream] = fake_openai.get("/_fake/requests").json()
    assert upstream["headers"]["Authorization"] == f"Bearer {stack.upstream_key}"
    assert upstream["body"]["model"] == "gpt-e2e"
    assert upstream["body"]["messages"][-1] == {
        "role": "user",
        "content": "Bonjour, quels sont vos horaires ?",
    }


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "not-the-key"}, {"x-api-key": ""}])
def test_chat_without_the_right_key_is_401(
    stack: Stack, fake_openai: httpx.Client, headers: dict[str, str]
) -> None:
    with stack.client() as client:
        response = client.post("/chat", json={"message": "Bonjour"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID_KEY
    assert fake_openai.get("/_fake/requests").json() == []


@pytest.mark.parametrize("body", [{}, {"msg": "Bonjour"}, b""])
def test_chat_without_a_message_is_400(stack: Stack, body: bytes | dict[str, object]) -> None:
    response = _chat(stack, body)
    assert response.status_code == 400
    assert response.json() == MISSING


def test_body_over_64_kib_is_refused_by_nginx_as_json_413(stack: Stack) -> None:
    body = json.dumps({"message": "x" * 70_000}).encode()
    response = _chat(stack, body, **{"X-Request-ID": "e2e-too-large-1"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == TOO_LARGE
    assert response.headers["x-request-id"] == "e2e-too-large-1"
    # Refused at the edge: the chatbot never saw it.
    nginx = stack.wait_for_log("nginx", lambda r: r.get("request_id") == "e2e-too-large-1")
    assert nginx
    assert nginx[0]["httpRequest"]["status"] == 413
    assert nginx[0]["upstream"]["addr"] == ""


def test_body_just_under_the_limit_reaches_the_chatbot(stack: Stack) -> None:
    # 65,000 bytes: within both limits' 65,536, so the app's own rule (message length) answers, not Nginx.
    body = json.dumps({"message": "x" * 64_980}).encode()
    assert 64_000 < len(body) <= 65_536
    response = _chat(stack, body, **{"X-Request-ID": "e2e-under-limit-1"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("Message trop long")
    chatbot = stack.wait_for_log("chatbot", lambda r: r.get("request_id") == "e2e-under-limit-1")
    assert chatbot


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ("500", 502),
        ("401", 502),
        ("invalid", 502),
        ("html", 502),
        ("close", 502),
        ("429", 503),
        ("slow", 504),
    ],
)
def test_upstream_faults_become_json_errors(
    stack: Stack, fake_openai: httpx.Client, fault: str, status: int
) -> None:
    started = time.monotonic()
    response = _chat(stack, {"message": f"#fault:{fault} e2e"})
    elapsed = time.monotonic() - started
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"]
    assert "fake" not in body["error"].lower()
    assert "sk-" not in body["error"]
    if status == 503:
        assert int(response.headers["retry-after"]) >= 1
    if fault == "slow":
        # OPENAI_TIMEOUT=2 with one retry: the chatbot gives up long before Nginx's own read timeout.
        assert elapsed < 15


def test_a_flaky_upstream_is_retried(stack: Stack, fake_openai: httpx.Client) -> None:
    response = _chat(stack, {"message": "#fault:flaky e2e"})
    assert response.status_code == 200
    assert response.json()["reply"] == "Echo: #fault:flaky e2e"
    assert len(fake_openai.get("/_fake/requests").json()) == 2


def test_every_answer_carries_a_request_id(stack: Stack) -> None:
    with stack.client() as client:
        answers = [
            client.get("/"),
            client.post("/chat", json={"message": "x"}),
            client.get("/no-such-page"),
            client.post("/chat", content=b"x" * 70_000),
        ]
    for answer in answers:
        assert answer.headers.get("x-request-id"), answer.url
    assert answers[2].status_code == 404
    assert list(answers[2].json()) == ["error"]
