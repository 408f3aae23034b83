"""Visitor tokens (signed, bound to a site, renewable) and which origins get CORS headers on which routes."""

from __future__ import annotations

import time

import pytest

from chatbot.config import Settings
from chatbot.cors import CorsPolicy
from chatbot.tokens import TokenSigner, fingerprint


def test_a_token_says_who_and_for_which_site() -> None:
    signer = TokenSigner("secret", ttl=60)
    visitor = signer.read(signer.issue("https://shop.example", fingerprint("pk_live_123")))
    assert visitor is not None
    assert visitor.origin == "https://shop.example"
    assert visitor.key_fingerprint == fingerprint("pk_live_123") != "pk_live_123"
    assert visitor.expires > time.time()


def test_a_token_from_another_secret_or_altered_is_refused() -> None:
    token = TokenSigner("secret", ttl=60).issue("https://shop.example", "fp")
    assert TokenSigner("other", ttl=60).read(token) is None
    version, payload, signature = token.split(".")
    assert TokenSigner("secret", ttl=60).read(f"{version}.{payload}x.{signature}") is None
    assert TokenSigner("secret", ttl=60).read("garbage") is None


def test_an_expired_token_still_names_its_visitor_for_a_renewal() -> None:
    signer = TokenSigner("secret", ttl=-10)
    token = signer.issue("https://shop.example", "fp", visitor_id="visitor-1")
    assert signer.read(token) is None
    renewed = signer.read(token, allow_expired_for=3600)
    assert renewed is not None
    assert renewed.id == "visitor-1"


def test_without_a_secret_the_key_is_derived_from_the_api_keys() -> None:
    token = TokenSigner("", ttl=60, derive_from=("k1", "k2")).issue("https://a.example", "fp")
    assert TokenSigner("", ttl=60, derive_from=("k2", "k1")).read(token) is not None
    assert TokenSigner("", ttl=60, derive_from=("k3",)).read(token) is None


@pytest.fixture
def policy() -> CorsPolicy:
    settings = Settings(  # type: ignore[call-arg]
        api_key="k",
        cors_origins="https://admin.example",
        widget_key="pk_0123456789abcdef",
        widget_origins="https://shop.example",
        _env_file=None,
    )
    return CorsPolicy(settings)


def test_widget_origins_reach_the_widget_routes_only(policy: CorsPolicy) -> None:
    assert policy.allow_origin("https://shop.example", "chat") == "https://shop.example"
    assert policy.allow_origin("https://shop.example", "conversations/<conversation_id:str>")
    assert policy.allow_origin("https://shop.example", "widget/session")
    assert policy.allow_origin("https://shop.example", "usage") is None
    assert policy.allow_origin("https://admin.example", "usage") == "https://admin.example"
    assert policy.allow_origin("https://evil.example", "chat") is None
    assert policy.allow_origin(None, "chat") is None
