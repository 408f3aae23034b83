"""CORS as a browser meets it: real preflights and requests through Nginx to the chatbot, whose CORS_ORIGINS
lists one origin (the stack fixture's `cors_origin`)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

OTHER_ORIGINS = [
    "https://evil.example",
    "http://wordpress.e2e.test",  # the listed host, but another scheme
    "https://wordpress.e2e.test:8443",  # the listed host, but another port
    "https://sub.wordpress.e2e.test",
    "null",
]


def _preflight(client: httpx.Client, origin: str) -> httpx.Response:
    return client.options(
        "/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )


def _tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def test_a_listed_origin_is_answered_with_itself_post_and_the_headers(stack: Stack) -> None:
    with stack.client() as client:
        response = _preflight(client, stack.cors_origin)

    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == stack.cors_origin
    assert "post" in _tokens(response.headers.get("access-control-allow-methods"))
    assert {"content-type", "x-api-key"} <= _tokens(response.headers.get("access-control-allow-headers"))
    assert "origin" in _tokens(response.headers.get("vary"))
    # The API key travels in a header, never in a cookie: credentials are not allowed.
    assert response.headers.get("access-control-allow-credentials") is None


@pytest.mark.parametrize("origin", OTHER_ORIGINS)
def test_any_other_origin_gets_no_allow_origin(stack: Stack, origin: str) -> None:
    with stack.client() as client:
        response = _preflight(client, origin)

    assert "access-control-allow-origin" not in response.headers, response.headers
    assert response.status_code < 500


def test_the_browser_request_after_the_preflight(stack: Stack) -> None:
    """The POST itself: the listed origin may read the reply and the request id; another origin may not."""
    with stack.client() as client:
        allowed = client.post(
            "/chat",
            json={"message": "Bonjour depuis le navigateur"},
            headers={"Origin": stack.cors_origin, "x-api-key": stack.api_key},
        )
        other = client.post(
            "/chat",
            json={"message": "Bonjour depuis ailleurs"},
            headers={"Origin": "https://evil.example", "x-api-key": stack.api_key},
        )

    assert allowed.status_code == 200
    assert allowed.json()["reply"]
    assert allowed.headers["access-control-allow-origin"] == stack.cors_origin
    assert "x-request-id" in _tokens(allowed.headers.get("access-control-expose-headers"))
    # Without CORS headers a browser hides this answer from the page (the server still needs the key).
    assert "access-control-allow-origin" not in other.headers


def test_never_a_wildcard_when_the_list_does_not_say_so(stack: Stack) -> None:
    assert stack.settings["CORS_ORIGINS"] != "*"
    with stack.client() as client:
        responses = [_preflight(client, origin) for origin in [stack.cors_origin, *OTHER_ORIGINS]]
        responses.append(client.get("/", headers={"Origin": "https://evil.example"}))
    assert all(r.headers.get("access-control-allow-origin") != "*" for r in responses)
