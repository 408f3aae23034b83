"""The pure parts of what lives in Redis: addresses counted, conversation budgets, cache keys, gap texts."""

from __future__ import annotations

from typing import Any

import pytest

from chatbot.config import Settings
from chatbot.state import Conversations, RedisLink, ReplyCache, address_bucket, normalise
from chatbot.state.gaps import gap_text


@pytest.mark.parametrize(
    ("address", "counted"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("not an address", "not an address"),
    ],
)
def test_ipv6_visitors_count_by_their_64(address: str, counted: str) -> None:
    assert address_bucket(address) == counted


def test_history_keeps_the_latest_whole_turns_that_fit_the_budget() -> None:
    conversations = Conversations(RedisLink(""), max_turns=10, max_chars=30, ttl=60)
    turns = []
    for n in range(4):
        turns += [
            {"role": "user", "content": f"question {n}"},
            {"role": "assistant", "content": f"reply {n}"},
        ]
    kept = conversations._budgeted(turns)
    # Each turn is 17 characters: only the last one fits in 30; never half a turn.
    assert kept == tuple(turns[-2:])


def settings(**values: Any) -> Settings:
    return Settings(api_key="k", redis_url="redis://x", _env_file=None, **values)  # type: ignore[call-arg]


def test_the_cache_key_ignores_case_and_spacing_but_not_the_faq_or_the_prompt() -> None:
    cache = ReplyCache(RedisLink("redis://x"), settings())
    key = cache.key("Livrez-vous ?", "faq1")
    assert cache.key("  livrez-VOUS   ? ", "faq1") == key
    assert cache.key("Livrez-vous ?", "faq2") != key
    assert (
        ReplyCache(RedisLink("redis://x"), settings(system_prompt="Sois bref.")).key("Livrez-vous ?", "faq1")
        != key
    )
    assert (
        ReplyCache(RedisLink("redis://x"), settings(openai_model="gpt-5-mini")).key("Livrez-vous ?", "faq1")
        != key
    )


def test_normalise_and_gap_text() -> None:
    assert normalise("  Bonjour\n\tLe   Monde ") == "bonjour le monde"
    assert gap_text("  Et le PRIX ???  ") == "et le prix"
    assert gap_text("x" * 1000) == "x" * 300
