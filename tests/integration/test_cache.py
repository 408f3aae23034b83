"""The reply cache on a real Redis: a first message asked again (whatever its case and spacing) is answered
without calling the model, until the FAQ changes; follow-ups and upstream errors are never cached."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import API_KEY, SHOP_FAQ, service_env, upstream_requests
from tests.integration.helpers import mark, post_chat, reset_fake, wait_for_records
from tests.processes import Process, RedisServer, service


@pytest.fixture(scope="module")
def faq_file() -> Path:
    path = Path(tempfile.mkdtemp(prefix="faq-cache-")) / "faq.md"
    shutil.copy(SHOP_FAQ, path)
    return path


@pytest.fixture(scope="module")
def cached(upstream: str, redis: RedisServer, faq_file: Path) -> Iterator[tuple[str, Process]]:
    redis.command("FLUSHALL")
    env = service_env(
        upstream,
        REDIS_URL=redis.url,
        FAQ_FILE=str(faq_file),
        FAQ_RELOAD_SECONDS="0.2",
        OPENAI_MAX_RETRIES="0",
        WORKERS="1",
    )
    with service(env) as running:
        yield running


def ask(url: str, message: str, conversation_id: str | None = None) -> httpx.Response:
    response = post_chat(url, API_KEY, message, conversation_id=conversation_id)
    assert response.status_code == 200, response.text
    return response


def test_a_first_message_asked_again_is_served_from_the_cache(
    cached: tuple[str, Process], upstream: str
) -> None:
    url = cached[0]
    tag = uuid.uuid4().hex[:6]
    reset_fake(upstream)
    first = ask(url, f"Livrez-vous à domicile ? {tag}")
    same = f"  LIVREZ-vous   à domicile ?\n{tag.upper()} "
    again = ask(url, same)
    assert first.headers["x-cache"] == "MISS"
    assert again.headers["x-cache"] == "HIT"
    assert len(upstream_requests(upstream)) == 1
    assert again.json()["reply"] == first.json()["reply"]
    assert again.json()["sources"] == first.json()["sources"] == ["Livrez-vous à domicile ?"]
    # A cached reply still starts its own conversation.
    cid = again.json()["conversation_id"]
    assert cid != first.json()["conversation_id"]
    kept = httpx.get(f"{url}/conversations/{cid}", headers={"x-api-key": API_KEY}).json()["messages"]
    assert [m["content"] for m in kept] == [same, again.json()["reply"]]


def test_an_edit_of_the_faq_is_never_answered_from_the_old_cache(
    cached: tuple[str, Process], upstream: str, faq_file: Path
) -> None:
    url, proc = cached
    message = f"Livrez-vous le dimanche ? {uuid.uuid4().hex[:6]}"
    ask(url, message)
    assert ask(url, message).headers["x-cache"] == "HIT"
    original = faq_file.read_text()
    try:
        since = mark(proc)
        edited = faq_file.with_suffix(".new")
        edited.write_text(original.replace("sinon elle coûte 4 €", "sinon elle coûte 5 €"))
        os.replace(edited, faq_file)  # saved as editors do: a new file renamed over the old one
        wait_for_records(proc, lambda r: "FAQ reloaded" in r["message"], since=since)
        reset_fake(upstream)
        after = ask(url, message)
        assert after.headers["x-cache"] == "MISS"
        (sent,) = upstream_requests(upstream)
        assert "5 €" in sent["body"]["messages"][0]["content"]
    finally:
        faq_file.write_text(original)


def test_follow_ups_are_never_cached(cached: tuple[str, Process], upstream: str) -> None:
    url = cached[0]
    follow_up = f"et le prix ? {uuid.uuid4().hex[:6]}"
    cid = ask(url, "Livrez-vous à domicile ?").json()["conversation_id"]
    reset_fake(upstream)
    for _ in range(2):
        response = ask(url, follow_up, cid)
        assert "x-cache" not in response.headers
    assert len(upstream_requests(upstream)) == 2
    assert ask(url, follow_up).headers["x-cache"] == "MISS"  # as a first message: nothing was stored


@pytest.mark.parametrize("fault", ["500", "invalid"])
def test_upstream_errors_are_never_cached(cached: tuple[str, Process], upstream: str, fault: str) -> None:
    url = cached[0]
    message = f"#fault:{fault} {uuid.uuid4().hex[:6]}"
    reset_fake(upstream)
    assert [post_chat(url, API_KEY, message).status_code for _ in range(2)] == [502, 502]
    assert len(upstream_requests(upstream)) == 2


def test_a_cache_ttl_of_zero_turns_the_cache_off(uncached_svc: tuple[str, Process], upstream: str) -> None:
    reset_fake(upstream)
    answers = [ask(uncached_svc[0], "Bonjour, vous êtes ouverts ?") for _ in range(2)]
    assert all("x-cache" not in a.headers for a in answers)
    assert len(upstream_requests(upstream)) == 2
