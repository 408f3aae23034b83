"""The WordPress plugin's per-visitor rate limit under attack: parallel questions cannot get past it, an
IPv6 visitor cannot escape it by changing addresses inside its /64, and its windows end and are cleaned up.
On the real site of tests/e2e/wordpress/harness.py (PHP's built-in server with several workers, MariaDB).
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.wordpress.harness import Chatbot, WordPress

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TOO_FAST = "You are asking too fast. Please wait a moment and try again."


def test_parallel_questions_from_one_visitor_never_exceed_the_limit(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    limit = 5
    wordpress.configure(chatbot, rate_limit=limit)
    wordpress.wp("locale", {"locale": ""})

    errors_before = len(wordpress.database_errors())
    answers = wordpress.ask_together([f"Question {i}" for i in range(30)], wordpress.nonce(visitor), {})

    # The test can fail: more requests than the limit reached the limiter at the same instant, in distinct PHP
    # workers (a limiter that reads its count, then writes it back, lets all of them through).
    held = {a.headers["x-test-worker"] for a in answers if a.headers.get("x-test-held") == "1"}
    assert len(held) > limit, held
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == limit, statuses
    assert statuses.count(429) == len(answers) - limit, statuses
    for limited in (a for a in answers if a.status_code == 429):
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["message"] == TOO_FAST
    # Refused because the window was full, not because the database gave up (a lock wait or a deadlock).
    assert wordpress.database_errors()[errors_before:] == []


def test_an_ipv6_visitor_is_limited_by_its_64_and_an_ipv4_visitor_by_its_address(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot, rate_limit=2)
    wordpress.wp("locale", {"locale": ""})
    nonce = wordpress.nonce(visitor)

    def status(address: str, header: str = "X-Test-Remote-Addr") -> int:
        return wordpress.ask(visitor, "Bonjour", nonce, {header: address}).status_code

    # One /64, however its addresses are written, is one visitor; the next /64 is another one.
    same_64 = ["2001:db8:1:2::1", "2001:DB8:1:2:FFFF:FFFF:FFFF:FFFE", "2001:db8:1:2:0:0:0:99"]
    assert [status(a) for a in same_64] == [200, 200, 429]
    assert status("2001:db8:1:3::1") == 200

    # IPv4 stays per address; an IPv4 client seen through an IPv6 socket is that same IPv4 visitor.
    assert [status("192.0.2.1"), status("192.0.2.1"), status("192.0.2.2")] == [200, 200, 200]
    assert status("::ffff:192.0.2.1") == 429

    # Behind a reverse proxy, the address from the chatbot_faq_client_ip filter is bucketed the same way.
    proxied = ["2001:db8:9:9::a", "2001:db8:9:9::b", "2001:db8:9:9::c", "2001:db8:9:a::1"]
    assert [status(a, "X-Test-Forwarded-For") for a in proxied] == [200, 200, 429, 200]


def test_a_window_ends_after_its_minute_and_is_cleaned_up_daily(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot, rate_limit=2)
    wordpress.wp("locale", {"locale": ""})
    nonce = wordpress.nonce(visitor)
    assert [wordpress.ask(visitor, f"Q{i}", nonce).status_code for i in range(3)] == [200, 200, 429]

    # One row for the visitor, never loaded on every page as autoloaded options are.
    (row,) = wordpress.wp("rate-limit-rows")
    assert row["autoload"] == "no"
    assert row["value"].endswith(":2")
    # WordPress's daily clean-up keeps a window that is still running.
    wordpress.wp("daily-cleanup")
    assert wordpress.wp("rate-limit-rows") == [row]

    # Once the minute is over, the visitor gets a full new window.
    wordpress.wp("end-rate-limit-windows")
    assert [wordpress.ask(visitor, f"R{i}", nonce).status_code for i in range(3)] == [200, 200, 429]

    # Once that one is over too, the daily clean-up deletes the row: the options table does not keep visitors.
    wordpress.wp("end-rate-limit-windows")
    wordpress.wp("daily-cleanup")
    assert wordpress.wp("rate-limit-rows") == []
