"""The WordPress plugin for real: Debian's WordPress, MariaDB and PHP, the plugin installed from the zip that
`make wp-plugin` builds, pointed at the running stack over HTTPS, and a page with [chatbot_faq] used through
Debian's Chromium (playwright-core). The API key must never reach the browser. (The site and its fixtures:
tests/e2e/wordpress/harness.py; the settings page and uninstall: test_wordpress_admin.py.)
"""

from __future__ import annotations

import json
import re
import secrets
import time

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.wordpress.harness import ARTIFACTS, ROOT, Chatbot, WordPress, leaks

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SCREENSHOT = ROOT / "test-artifacts" / "wordpress-chat-box.png"


def test_a_visitor_asks_through_wordpress_and_never_sees_the_key(
    wordpress: WordPress, chatbot: Chatbot
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": "fr_FR"})
    questions = ["Bonjour, comment ça va ?", "Quels sont vos horaires d'ouverture ?"]
    html_question = '<img src=x onerror="window.__chatbotFaqPwned=true"><b>gras</b>'
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    seen = wordpress.browse(
        questions=[*questions, html_question],
        screenshotAfter=len(questions) - 1,
        screenshot=str(SCREENSHOT),
        slowQuestion="Et le week-end ?",
        errorQuestion="#fault:500 une panne chez le fournisseur",
        locale="fr-FR",
    )

    assert seen["pageStatus"] == 200
    assert not seen["pageErrors"], seen["pageErrors"]
    # The guide's French texts are the plugin's French version.
    assert seen["title"] == "FAQ Intelligent"
    assert seen["placeholder"] == "Posez une question..."
    assert seen["buttonText"] == "Envoyer"
    assert seen["labelText"] == "Votre question"
    assert seen["logAttrs"] == {"role": "log", "ariaLive": "polite"}

    steps = seen["steps"]
    for step, question in zip(steps, questions, strict=False):
        assert step["reply"] is not None, step
        assert question in step["reply"], step
        assert not step["statusIsError"], step
        assert step["ariaBusy"] == "false"
        assert step["focusedIsInput"], "focus goes back to the input after a reply"

    # A reply is text, never HTML: the markup the model echoed shows as characters and runs nothing.
    html_step = steps[len(questions)]
    assert html_step["reply"] is not None
    assert html_question in html_step["reply"]
    assert html_step["imagesInLog"] == 0
    assert seen["pwned"] is False

    # While WordPress waits for the chatbot, the box says so and the button cannot be pressed twice.
    slow = steps[len(questions) + 1]
    assert slow["waiting"] == {
        "ariaBusy": "true",
        "buttonDisabled": True,
        "statusText": "Le chatbot réfléchit…",
    }
    assert slow["reply"] is not None
    assert "Et le week-end ?" in slow["reply"]

    # An upstream fault becomes a friendly, translated message in the error state.
    error = steps[len(questions) + 2]
    assert error["reply"] is None
    assert error["statusIsError"]
    assert (
        error["statusText"] == "Le chatbot ne peut pas répondre pour le moment. Veuillez réessayer plus tard."
    )

    # The browser only ever talked to WordPress, and the key is nowhere in what it saw or sent.
    assert all(r["url"].startswith(wordpress.base_url + "/") for r in seen["requests"]), [
        r["url"] for r in seen["requests"] if not r["url"].startswith(wordpress.base_url)
    ]
    assert not any(chatbot.url.split("://", 1)[1] in json.dumps(r) for r in seen["requests"])
    rest_calls = [r for r in seen["requests"] if "chatbot-faq/v1/chat" in r["url"]]
    assert len(rest_calls) == len(steps)
    assert all(r["headers"].get("x-wp-nonce") for r in rest_calls)
    assert leaks(chatbot.api_key, seen) == []
    # No inline script at all in the chat box's markup: its settings are data attributes without secrets.
    box = re.search(r'<section class="chatbot-faq".*?</section>', seen["rawHtml"], re.DOTALL)
    assert box
    assert "<script" not in box.group(0)
    assert SCREENSHOT.stat().st_size > 5000

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "wordpress-browser.json").write_text(
        json.dumps(
            {
                "page_load_ms": seen["pageLoadMs"],
                "question_ms": [s["elapsedMs"] for s in steps[: len(questions)]],
            },
            indent=1,
        )
    )


def test_the_rest_route_refuses_a_request_without_the_pages_nonce(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": ""})

    missing = wordpress.ask(visitor, "Bonjour", nonce=None)
    forged = wordpress.ask(visitor, "Bonjour", nonce="0123456789")
    assert missing.status_code == 403
    assert missing.json()["message"] == "This page has expired. Please reload it and ask again."
    assert forged.status_code == 403

    answered = wordpress.ask(visitor, "Bonjour", nonce=wordpress.nonce(visitor))
    assert answered.status_code == 200
    assert "Bonjour" in answered.json()["reply"]
    assert chatbot.api_key not in answered.text
    assert answered.headers["cache-control"] == "no-store"


def test_a_questions_request_id_links_wordpress_and_the_chatbots_logs(
    wordpress: WordPress, chatbot: Chatbot, stack: Stack, fake_openai: httpx.Client, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot)
    question = f"Suivi de bout en bout {secrets.token_hex(4)}"
    answered = wordpress.ask(visitor, question, wordpress.nonce(visitor))
    assert answered.status_code == 200
    request_id = answered.headers["x-request-id"]

    # The chatbot kept WordPress's id: its access log line for this question carries it.
    logged = stack.wait_for_log("chatbot", lambda r: r.get("request_id") == request_id)
    assert any(r.get("httpRequest", {}).get("requestUrl") == "/chat" for r in logged), logged
    # And the question reached the upstream model as the visitor typed it, with the upstream's key only.
    upstream = [r for r in fake_openai.get("/_fake/requests").json() if question in json.dumps(r["body"])]
    assert len(upstream) == 1
    assert question in upstream[0]["body"]["messages"][-1]["content"]
    assert chatbot.api_key not in json.dumps(upstream[0])


def test_the_rest_route_validates_the_question(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": ""})
    nonce = wordpress.nonce(visitor)

    empty = wordpress.ask(visitor, "   ", nonce)
    too_long = wordpress.ask(visitor, "x" * 2001, nonce)
    not_text = wordpress.ask(visitor, {"nested": "object"}, nonce)
    missing = visitor.post(wordpress.rest_url, json={}, headers={"X-WP-Nonce": nonce})
    assert empty.status_code == 400
    assert "Please type a question." in empty.text
    assert too_long.status_code == 400
    assert "under 2000 characters" in too_long.text
    assert not_text.status_code == 400
    assert missing.status_code == 400
    # Control characters are dropped; the rest of the question reaches the chatbot as typed.
    kept = wordpress.ask(visitor, "Is 3 < 5 \x07and <br> a tag?", nonce)
    assert kept.status_code == 200
    assert "Is 3 < 5 and <br> a tag?" in kept.json()["reply"]


def test_each_visitor_is_rate_limited(wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client) -> None:
    wordpress.configure(chatbot, rate_limit=3)
    wordpress.wp("locale", {"locale": ""})
    nonce = wordpress.nonce(visitor)

    statuses = [wordpress.ask(visitor, f"Question {i}", nonce).status_code for i in range(3)]
    limited = wordpress.ask(visitor, "One too many", nonce)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["message"] == "You are asking too fast. Please wait a moment and try again."

    # Once the window is over (forgotten here rather than waited for), the visitor may ask again.
    wordpress.wp("reset-rate-limit")
    assert wordpress.ask(visitor, "After the window", nonce).status_code == 200


def test_chatbot_faults_become_friendly_messages(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.wp("locale", {"locale": ""})

    wordpress.configure(None)
    nonce = wordpress.nonce(visitor)
    unconfigured = wordpress.ask(visitor, "Bonjour", nonce)
    assert unconfigured.status_code == 503
    assert unconfigured.json()["message"] == "The chatbot is not configured yet. Please try again later."

    wordpress.configure(Chatbot(url=chatbot.url, api_key="not-the-key"))
    wrong_key = wordpress.ask(visitor, "Bonjour", nonce)
    assert wrong_key.status_code == 502
    assert wrong_key.json()["message"] == "The chatbot cannot answer right now. Please try again later."

    # TLS verification on, against the stack's self-signed certificate: WordPress refuses to talk to it.
    wordpress.configure(chatbot, verify_tls=True)
    unverified = wordpress.ask(visitor, "Bonjour", nonce)
    assert unverified.status_code == 502
    assert unverified.json()["message"] == (
        "The chatbot cannot be reached right now. Please try again in a moment."
    )

    wordpress.configure(chatbot)
    slow = wordpress.ask(visitor, "#fault:slow une question qui ne vient jamais", nonce)
    assert slow.status_code == 504
    assert slow.json()["message"] == "The chatbot took too long to answer. Please try again."

    for response in (unconfigured, wrong_key, unverified, slow):
        assert chatbot.api_key not in response.text
        assert chatbot.url.split("://", 1)[1] not in response.text


def test_english_is_the_default_language(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": ""})
    html = visitor.get(wordpress.page_url).text

    assert '<h2 class="chatbot-faq__title" id="chatbot-faq-1-title">Smart FAQ</h2>' in html
    assert 'placeholder="Ask a question..."' in html
    assert ">Send</button>" in html
    assert 'aria-live="polite"' in html
    assert "chatbot-faq/assets/js/chatbot-faq.js" in html
    assert "chatbot-faq/assets/css/chatbot-faq.css" in html
    assert chatbot.api_key not in html
    assert chatbot.url.split("://", 1)[1] not in html


def test_one_question_through_wordpress_chatbot_and_upstream_is_timed(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    """The README figure: one question through WordPress -> chatbot (HTTPS) -> fake upstream."""
    wordpress.configure(chatbot, rate_limit=0)
    nonce = wordpress.nonce(visitor)
    wordpress.ask(visitor, "warm-up", nonce).raise_for_status()
    timings = []
    for i in range(20):
        started = time.perf_counter()
        response = wordpress.ask(visitor, f"Question chronométrée {i}", nonce)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        assert f"Question chronométrée {i}" in response.json()["reply"]
    timings.sort()
    figures = {
        "questions": len(timings),
        "median_ms": round(timings[len(timings) // 2], 1),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 1),
        "min_ms": round(timings[0], 1),
        "max_ms": round(timings[-1], 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "wordpress-timing.json").write_text(json.dumps(figures, indent=1))
    # Generous bound for a 2-core machine: the fake upstream answers at once, so this is our own overhead.
    assert figures["median_ms"] < 2000, figures
