"""CORS: only the origins listed in CORS_ORIGINS get Access-Control-Allow-Origin; never `*` unless listed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import API_KEY, service_env
from tests.processes import service

SITE = "https://www.client-site.example"


@pytest.fixture(scope="module")
def cors_url(upstream: str) -> Iterator[str]:
    env = service_env(upstream, CORS_ORIGINS=f"{SITE}, https://shop.example", WORKERS="1")
    with service(env) as (url, _):
        yield url


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        url + "/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )


def test_a_listed_origin_gets_its_preflight_answered(cors_url: str) -> None:
    response = preflight(cors_url, SITE)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SITE
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].lower().split(",")}
    assert {"content-type", "x-api-key"} <= allowed
    assert "access-control-allow-credentials" not in response.headers


def test_the_actual_request_from_a_listed_origin_is_readable(cors_url: str) -> None:
    response = httpx.post(
        cors_url + "/chat", json={"message": "hi"}, headers={"Origin": SITE, "x-api-key": API_KEY}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://www.client-site.example.evil.example", "null"]
)
def test_other_origins_get_no_allow_origin(cors_url: str, origin: str) -> None:
    assert "access-control-allow-origin" not in preflight(cors_url, origin).headers
    response = httpx.post(
        cors_url + "/chat", json={"message": "hi"}, headers={"Origin": origin, "x-api-key": API_KEY}
    )
    assert "access-control-allow-origin" not in response.headers


def test_requests_without_an_origin_get_no_cors_headers(cors_url: str) -> None:
    response = httpx.post(cors_url + "/chat", json={"message": "hi"}, headers={"x-api-key": API_KEY})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_without_a_list_no_origin_is_allowed(base_url: str) -> None:
    assert "access-control-allow-origin" not in preflight(base_url, SITE).headers


def test_star_only_when_the_list_says_star(upstream: str) -> None:
    with service(service_env(upstream, CORS_ORIGINS="*", WORKERS="1")) as (url, _):
        assert preflight(url, "https://any.example").headers["access-control-allow-origin"] == "*"
