"""Streamed replies (`"stream": true`), with both upstream clients: pieces as the model writes them, pings
while it is silent, an `error` event when it fails half-way, the upstream call closed when the visitor
leaves, and only complete replies kept in the conversation and the cache."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import API_KEY, SHOP_FAQ, service_env, upstream_requests
from tests.integration.helpers import (
    Streamed,
    fake_streams,
    for_request,
    is_access,
    iter_events,
    post_chat,
    reset_fake,
    stream_chat,
    wait_for_records,
)
from tests.processes import Process, RedisServer, service

HEADERS = {"x-api-key": API_KEY}


@pytest.fixture(scope="module", params=["http", "sdk"])
def streaming(
    request: pytest.FixtureRequest, upstream: str, redis: RedisServer
) -> Iterator[tuple[str, Process]]:
    env = service_env(
        upstream,
        OPENAI_CLIENT=request.param,
        OPENAI_MAX_RETRIES="0",
        REDIS_URL=redis.url,
        FAQ_FILE=str(SHOP_FAQ),
        STREAM_PING_SECONDS="0.3",
        OPENAI_TIMEOUT="1",
        WORKERS="1",
    )
    with service(env) as running:
        yield running


def unique(text: str) -> str:
    return f"{text} [{uuid.uuid4().hex[:8]}]"


def stream(url: str, message: str, rid: str | None = None, **fields: object) -> Streamed:
    headers = {**HEADERS, "x-request-id": rid} if rid else HEADERS
    return stream_chat(url, {"message": message, "stream": True, **fields}, headers)


def assert_complete(answer: Streamed) -> None:
    """A stream that ended well: deltas, then one `done` event, last."""
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("text/event-stream")
    names = [e.name for e in answer.events if e.name != "comment"]
    assert names[-1] == "done"
    assert set(names[:-1]) == {"delta"}


def test_pieces_arrive_as_the_model_writes_them(streaming: tuple[str, Process]) -> None:
    url, proc = streaming
    message = unique("#stream:6x200 Livrez-vous à domicile ?")
    rid = f"stream-{uuid.uuid4().hex[:8]}"
    answer = stream(url, message, rid=rid)
    assert_complete(answer)
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["x-accel-buffering"] == "no"
    assert answer.headers["x-request-id"] == rid
    deltas = answer.named("delta")
    assert len(deltas) >= 4
    assert deltas[-1].at - deltas[0].at > 0.7  # the first one was read long before the last was written
    assert "".join(d.data["text"] for d in deltas) == f"  Echo: {message}  \n"
    (done,) = answer.named("done")
    assert done.data["reply"] == f"Echo: {message}"
    assert done.data["sources"][0] == "Livrez-vous à domicile ?"
    assert len(done.data["conversation_id"]) == 22
    (access,) = wait_for_records(proc, is_access(rid))
    assert access["stream"] is True
    assert access["httpRequest"]["status"] == 200
    assert 0 < access["first_delta_ms"] < (deltas[1].at * 1000)
    assert access["usage"]["total_tokens"] > 0


def test_a_silent_model_gets_pings(streaming: tuple[str, Process]) -> None:
    answer = stream(streaming[0], unique("#stream:3x500 Bonjour"))
    assert_complete(answer)
    first, second, *_ = answer.named("delta")
    pings = [e for e in answer.events if e.name == "comment" and e.text == "ping"]
    assert [p for p in pings if first.at < p.at < second.at], answer.events  # STREAM_PING_SECONDS=0.3


@pytest.mark.parametrize(
    ("fault", "status", "text"),
    [
        ("stream-error", 502, "Le service de langage est indisponible, réessayez plus tard."),
        ("stream-drop", 502, "Le service de langage est indisponible, réessayez plus tard."),
        ("stream-hang", 504, "Le service de langage n'a pas répondu à temps."),  # OPENAI_TIMEOUT=1
    ],
)
def test_a_failure_half_way_ends_the_stream_with_an_error_event(
    streaming: tuple[str, Process], fault: str, status: int, text: str
) -> None:
    answer = stream(streaming[0], unique(f"#fault:{fault} il était une fois"))
    assert answer.status == 200
    events = [e for e in answer.events if e.name != "comment"]
    assert events[-1].name == "error"
    assert events[-1].data == {"error": text, "status": status}
    assert not answer.named("done")


@pytest.mark.parametrize(
    ("message", "headers", "status"),
    [
        ("#fault:500 tout de suite", HEADERS, 502),
        ("#fault:401 tout de suite", HEADERS, 502),
        ("bonjour", {"x-api-key": "wrong"}, 401),
        ("", HEADERS, 400),
    ],
    ids=["upstream-500", "upstream-401", "bad-key", "bad-body"],
)
def test_failures_before_the_first_piece_keep_their_json_status(
    streaming: tuple[str, Process], message: str, headers: dict[str, str], status: int
) -> None:
    answer = stream_chat(streaming[0], {"message": message, "stream": True}, headers)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert list(json.loads(answer.body)) == ["error"]


def test_a_visitor_who_leaves_closes_the_upstream_call_and_keeps_nothing(
    streaming: tuple[str, Process], upstream: str
) -> None:
    url, proc = streaming
    cid = post_chat(url, API_KEY, "Bonjour").json()["conversation_id"]
    rid = f"leave-{uuid.uuid4().hex[:8]}"
    body = {"message": unique("#stream:5x400 une longue réponse"), "stream": True, "conversation_id": cid}
    started = time.monotonic()
    with httpx.stream("POST", url + "/chat", json=body, headers={**HEADERS, "x-request-id": rid}) as response:
        next(e for e in iter_events(response, started) if e.name == "delta")
    left = time.monotonic()
    while not [s for s in fake_streams(upstream) if s["request_id"] == rid and s["closed_by_client"]]:
        assert time.monotonic() - left < 1, fake_streams(upstream)
        time.sleep(0.05)
    mine = for_request(rid)
    wait_for_records(proc, lambda r: mine(r) and r["message"].startswith("client left during a stream"))
    assert not [r for r in wait_for_records(proc, mine) if r["severity"] in ("ERROR", "CRITICAL")]
    messages = httpx.get(f"{url}/conversations/{cid}", headers=HEADERS).json()["messages"]
    assert len(messages) == 2  # the first turn only


def test_a_completed_stream_joins_the_conversation(streaming: tuple[str, Process], upstream: str) -> None:
    url = streaming[0]
    cid = post_chat(url, API_KEY, "Bonjour").json()["conversation_id"]
    streamed = stream(url, "Livrez-vous à domicile ?", conversation_id=cid)
    assert_complete(streamed)
    assert streamed.named("done")[0].data["conversation_id"] == cid
    reset_fake(upstream)
    assert post_chat(url, API_KEY, "et le prix ?", conversation_id=cid).status_code == 200
    history = upstream_requests(upstream)[-1]["body"]["messages"][1:]
    assert [m["content"] for m in history] == [
        "Bonjour",
        "Echo: Bonjour",
        "Livrez-vous à domicile ?",
        "Echo: Livrez-vous à domicile ?",
        "et le prix ?",
    ]


def test_cached_replies_stream_and_streamed_replies_are_cached(
    streaming: tuple[str, Process], upstream: str
) -> None:
    url = streaming[0]
    plain_first = unique("Quels sont vos horaires ?")
    reply = post_chat(url, API_KEY, plain_first).json()["reply"]
    reset_fake(upstream)
    hit = stream(url, plain_first)
    assert_complete(hit)
    assert hit.headers["x-cache"] == "HIT"
    assert len(hit.named("delta")) >= 2
    assert "".join(d.data["text"] for d in hit.named("delta")) == reply == hit.named("done")[0].data["reply"]
    assert upstream_requests(upstream) == []
    streamed_first = unique("Proposez-vous du sans gluten ?")
    assert stream(url, streamed_first).headers["x-cache"] == "MISS"
    assert post_chat(url, API_KEY, streamed_first).headers["x-cache"] == "HIT"
    assert len(upstream_requests(upstream)) == 1


def test_offline_replies_stream_too(offline_svc: tuple[str, Process]) -> None:
    answer = stream(offline_svc[0], "Livrez-vous à domicile ?")
    assert_complete(answer)
    assert len(answer.named("delta")) >= 2
    (done,) = answer.named("done")
    assert "".join(d.data["text"] for d in answer.named("delta")) == done.data["reply"]
    assert done.data["reply"].startswith("Oui, nous livrons")
    assert done.data["sources"] == ["Livrez-vous à domicile ?"]
    assert done.data["conversation_id"]
