"""The HTTP contract clients of the original guide rely on, plus the errors it never handled."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.conftest import API_KEY, OLD_KEY, UPSTREAM_KEY, upstream_requests

INVALID_KEY = {"error": "Clé API invalide ou manquante."}


def test_banner_is_the_guides_text(base_url: str) -> None:
    response = httpx.get(base_url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Chatbot MVP est en cours d'exécution."


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_json_without_a_key(base_url: str, path: str) -> None:
    response = httpx.get(base_url + path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] in {"ok", "ready"}


def test_readyz_names_the_provider_and_model(base_url: str) -> None:
    assert httpx.get(base_url + "/readyz").json() == {
        "status": "ready",
        "provider": "openai",
        "model": "gpt-test-mini",
        "faq_entries": 0,
        "redis": "off",
    }


def test_chat_returns_the_trimmed_reply_and_sends_the_configured_request(
    client: httpx.Client, upstream: str
) -> None:
    response = client.post("/chat", json={"message": "Bonjour, comment ça va?"})
    assert response.status_code == 200
    assert response.json() == {"reply": "Echo: Bonjour, comment ça va?"}
    (sent,) = upstream_requests(upstream)
    assert sent["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent["body"] == {
        "model": "gpt-test-mini",
        "messages": [
            {"role": "system", "content": "Tu es l'assistant du site."},
            {"role": "user", "content": "Bonjour, comment ça va?"},
        ],
        "max_tokens": 150,
        "temperature": 0.7,
    }
    assert sent["headers"]["X-Client-Request-Id"] == response.headers["x-request-id"]


def test_every_listed_key_is_accepted_for_rotation(base_url: str) -> None:
    for key in (API_KEY, OLD_KEY):
        response = httpx.post(base_url + "/chat", json={"message": "hi"}, headers={"x-api-key": key})
        assert response.status_code == 200, key


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": ""},
        {"x-api-key": "wrong"},
        {"x-api-key": API_KEY + "x"},
        {"x-api-key": API_KEY[:-1]},
    ],
    ids=["missing", "empty", "wrong", "longer", "shorter"],
)
def test_chat_without_a_valid_key_is_refused(base_url: str, headers: dict[str, str]) -> None:
    response = httpx.post(base_url + "/chat", json={"message": "hi"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID_KEY


def test_a_list_of_keys_is_not_itself_a_key(base_url: str) -> None:
    response = httpx.post(
        base_url + "/chat", json={"message": "hi"}, headers={"x-api-key": f"{API_KEY},{OLD_KEY}"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/api-docs", "/api-docs/openapi.json"])
def test_public_routes_need_no_key(base_url: str, path: str) -> None:
    assert httpx.get(base_url + path).status_code == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "Message manquant dans la requête."),
        (b"{}", "Message manquant dans la requête."),
        (b'{"msg": "hi"}', "Message manquant dans la requête."),
        (b'{"message": null}', "Message manquant dans la requête."),
        (b"not json", "Le corps de la requête n'est pas du JSON valide."),
        (b"\xff\xfe", "Le corps de la requête n'est pas du JSON valide."),
        (
            b'["message"]',
            'Le corps de la requête doit être un objet JSON, par exemple {"message": "Bonjour"}.',
        ),
        (b'"hello"', 'Le corps de la requête doit être un objet JSON, par exemple {"message": "Bonjour"}.'),
        (b'{"message": 42}', "Le champ message doit être une chaîne de caractères."),
        (b'{"message": ["a"]}', "Le champ message doit être une chaîne de caractères."),
        (b'{"message": "   \\n "}', "Le champ message est vide."),
    ],
)
def test_bad_bodies_get_a_400_saying_what_is_wrong(client: httpx.Client, body: bytes, error: str) -> None:
    response = client.post("/chat", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_message_over_the_limit_is_refused_before_any_upstream_call(
    client: httpx.Client, upstream: str
) -> None:
    response = client.post("/chat", json={"message": "a" * 4001})
    assert response.status_code == 400
    assert response.json() == {"error": "Message trop long : 4000 caractères au maximum."}
    assert client.post("/chat", json={"message": "é" * 4000}).status_code == 200
    assert len(upstream_requests(upstream)) == 1


def test_body_of_megabytes_gets_413_json(client: httpx.Client) -> None:
    response = client.post("/chat", content=b'{"message": "' + b"a" * 3_000_000 + b'"}')
    assert response.status_code == 413
    assert response.json() == {"error": "Requête trop volumineuse."}


def test_413_comes_before_the_body_is_sent(base_url: str) -> None:
    # Announce 50 MB, send none of it: the answer must not wait for the body.
    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            b"POST /chat HTTP/1.1\r\nHost: x\r\nx-api-key: " + API_KEY.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 52428800\r\n\r\n"
        )
        started = time.monotonic()
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert time.monotonic() - started < 2


def test_unknown_path_is_json_404(client: httpx.Client) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "Ressource introuvable."}


def test_wrong_method_is_json_405(client: httpx.Client) -> None:
    response = client.get("/chat")
    assert response.status_code == 405
    assert response.json() == {"error": "Méthode non autorisée pour cette ressource."}
    assert "POST" in response.headers["allow"]


def test_request_id_is_created_or_kept(client: httpx.Client) -> None:
    created = client.get("/healthz").headers["x-request-id"]
    assert len(created) == 32
    assert client.get("/healthz").headers["x-request-id"] != created
    kept = client.get("/healthz", headers={"x-request-id": "abc-123.XYZ"}).headers["x-request-id"]
    assert kept == "abc-123.XYZ"
    for insane in ("has space", "x" * 200, "<script>", "a\tb"):
        replaced = client.get("/healthz", headers={"x-request-id": insane}).headers["x-request-id"]
        assert replaced != insane
        assert len(replaced) == 32
    for status_path in ("/nope", "/chat"):
        assert client.get(status_path).headers["x-request-id"]


def test_error_responses_carry_the_request_id(base_url: str) -> None:
    response = httpx.post(base_url + "/chat", json={"message": "hi"}, headers={"x-request-id": "rid-401"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "rid-401"
