"""Streaming through the whole stack: Nginx over HTTPS passes events as the model writes them, and a visitor
who leaves stops the model."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager

import httpx

from tests.e2e.conftest import Stack
from tests.e2e.sse import events


def _stream(stack: Stack, client: httpx.Client, message: str) -> AbstractContextManager[httpx.Response]:
    body = {"message": message, "stream": True}
    return client.stream("POST", "/chat", json=body, headers={"x-api-key": stack.api_key})


def test_deltas_arrive_one_by_one_through_nginx(stack: Stack, fake_openai: httpx.Client) -> None:
    with stack.client() as client:
        started = time.monotonic()
        with _stream(stack, client, "#stream:6x300 Bonjour") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-request-id"]
            # Nginx compresses nothing it streams.
            assert "content-encoding" not in response.headers
            received = list(events(response, started))
    deltas = [e for e in received if e.name == "delta"]
    done = received[-1]
    assert done.name == "done"
    assert "".join(e.data["text"] for e in deltas).strip() == done.data["reply"]
    assert done.data["reply"] == "Echo: #stream:6x300 Bonjour"
    assert done.data["conversation_id"]
    assert len(deltas) >= 5
    # 6 pieces 300 ms apart: the first is on screen about 1.5 s before the last is written.
    assert deltas[-1].at - deltas[0].at > 1.2, [round(e.at, 2) for e in deltas]


def test_a_visitor_who_leaves_stops_the_model(stack: Stack, fake_openai: httpx.Client) -> None:
    with stack.client() as client:
        started = time.monotonic()
        with _stream(stack, client, "#stream:40x100 longue réponse") as response:
            for event in events(response, started):
                if event.name == "delta" and event.at > 0.5:
                    break
        left = time.monotonic()
    deadline = left + 5
    while time.monotonic() < deadline:
        (stream,) = fake_openai.get("/_fake/streams").json()
        if stream["ended"] is not None:
            break
        time.sleep(0.1)
    assert stream["closed_by_client"], stream
    assert not stream["completed"]
    # Nginx passed the close on, and the chatbot closed the upstream request, within about a second.
    assert stream["ended"] - stream["started"] < (left - started) + 1.5, stream
    assert stream["pieces_sent"] < 40


def test_an_upstream_failing_half_way_ends_the_stream_with_an_error_event(
    stack: Stack, fake_openai: httpx.Client
) -> None:
    with stack.client() as client:
        started = time.monotonic()
        with _stream(stack, client, "#fault:stream-drop") as response:
            assert response.status_code == 200
            received = list(events(response, started))
    assert [e.name for e in received][-1] == "error"
    assert received[-1].data == {
        "error": "Le service de langage est indisponible, réessayez plus tard.",
        "status": 502,
    }
