"""A fake OpenAI server speaking the real Chat Completions wire protocol.

Used by the integration tests, the benchmarks and the end-to-end stack (as a container). Faults are chosen
by the caller, either per request through the user message (so a test going through Nginx needs no side
channel) or for every request through the control API:

    user message starting with   upstream answers
    #fault:500                   500 with OpenAI's error body
    #fault:429                   429 with Retry-After: 7
    #fault:401                   401 invalid_api_key
    #fault:invalid               200 whose body is not a chat completion
    #fault:html                  200 text/html
    #fault:close                 closes the connection without answering
    #fault:slow                  answers after --slow-seconds (default 60)
    #fault:flaky                 500 on the first try of each message, 200 on the retry
    #fault:gzip-bomb             200 gzip body that inflates to 64 MB
    #fault:huge                  200 JSON body of 50 MB (Content-Length says so)
    #fault:surrogate             200 whose reply holds a lone surrogate escape (\\ud800)

Streaming (`"stream": true`, OpenAI's SSE wire format, usage last when stream_options.include_usage): the
reply is cut into --stream-pieces pieces sent --stream-interval-ms apart; a user message starting with
`#stream:<pieces>x<ms>` chooses both for that request. Mid-stream faults (after 2 pieces):
    #fault:stream-error          an error object in the stream, then the end
    #fault:stream-hang           no more data for --slow-seconds
    #fault:stream-drop           the connection is closed without [DONE]
    GET  /_fake/streams          every stream: request id, pieces sent, completed or closed by the client

    GET  /_fake/requests         the recorded requests (headers and JSON bodies), newest last
    POST /_fake/reset            forgets them and clears the forced fault
    POST /_fake/fault            {"fault": "500"} forces a fault for every request until reset

Run: python tests/fakes/openai_server.py --port 8081 [--delay-ms 50] [--api-key sk-test]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import gzip
import json
import re
import time
from typing import Any

from aiohttp import web

FAULT_PREFIX = "#fault:"
STREAM_SPEC = re.compile(r"#stream:(\d+)x(\d+)")
RECORD_LIMIT = 2000

FakeState = web.AppKey("fake_state", dict)


def _error(status: int, message: str, err_type: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": err_type, "param": None, "code": code}}
    return web.json_response(body, status=status)


def _completion(model: str, content: str, prompt_chars: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": max(1, prompt_chars // 4),
            "completion_tokens": max(1, len(content) // 4),
            "total_tokens": max(2, (prompt_chars + len(content)) // 4),
        },
        "system_fingerprint": "fp_fake",
    }


@functools.cache
def _gzip_bomb() -> bytes:
    """64 MB of zeros in ~64 KB of gzip; compressed once (a third of a second), then served as is."""
    return gzip.compress(b"0" * (64 * 1024 * 1024), compresslevel=9)


def _last_user_message(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[FakeState]
    if state["api_key"] and request.headers.get("Authorization") != f"Bearer {state['api_key']}":
        return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
    if state["record"]:
        state["requests"].append(
            {"path": request.path, "headers": dict(request.headers), "body": body, "at": time.time()}
        )
    user = _last_user_message(body)
    fault = state["fault"] or (user[len(FAULT_PREFIX) :].split()[0] if user.startswith(FAULT_PREFIX) else "")
    if fault == "flaky":
        seen = state["flaky_seen"]
        fault = "" if user in seen else "500"
        seen.add(user)
    if state["delay"]:
        await asyncio.sleep(state["delay"])
    if fault == "500":
        return _error(500, "The server had an error while processing your request.", "server_error")
    if fault == "429":
        response = _error(429, "Rate limit reached for requests.", "requests", "rate_limit_exceeded")
        response.headers["Retry-After"] = "7"
        return response
    if fault == "401":
        return _error(
            401, "Incorrect API key provided: sk-upstr****.", "invalid_request_error", "invalid_api_key"
        )
    if fault == "invalid":
        return web.json_response({"object": "chat.completion", "choices": []})
    if fault == "html":
        return web.Response(text="<html><body>Bad gateway</body></html>", content_type="text/html")
    if fault == "close":
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)
    if fault == "gzip-bomb":
        return web.Response(
            body=_gzip_bomb(), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
    if fault == "huge":
        return web.Response(body=b" " * (50 * 1024 * 1024), content_type="application/json")
    if fault == "slow":
        await asyncio.sleep(state["slow_seconds"])
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages") or [])
    reply = state["reply"] or f"  Echo: {user}  \n"
    if fault == "surrogate":
        reply = "Bonjour \ud800 !"
    if body.get("stream"):
        return await _stream(request, body, reply, prompt_chars, fault)
    return web.json_response(_completion(str(body.get("model", "")), reply, prompt_chars))


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, count)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-fakestream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


async def _stream(
    request: web.Request, body: dict[str, Any], reply: str, prompt_chars: int, fault: str
) -> web.StreamResponse:
    state = request.app[FakeState]
    model = str(body.get("model", ""))
    spec = STREAM_SPEC.search(_last_user_message(body))
    count, interval = (int(spec[1]), int(spec[2]) / 1000) if spec else (state["pieces"], state["interval"])
    record = {
        "request_id": request.headers.get("X-Client-Request-Id"),
        "pieces_sent": 0,
        "completed": False,
        "closed_by_client": False,
        "started": time.time(),
        "ended": None,
    }
    state["streams"].append(record)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        await response.write(_chunk(model, {"role": "assistant", "content": ""}))
        for number, piece in enumerate(_pieces(reply, count)):
            if number == 2 and fault.startswith("stream-"):
                await _stream_fault(request, response, fault, state)
                return response
            if interval and number:
                await asyncio.sleep(interval)
            await response.write(_chunk(model, {"content": piece}))
            record["pieces_sent"] = number + 1
        await response.write(_chunk(model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": max(1, prompt_chars // 4),
                "completion_tokens": max(1, len(reply) // 4),
                "total_tokens": max(2, (prompt_chars + len(reply)) // 4),
            }
            payload: dict[str, Any] = {"id": "chatcmpl-fakestream", "object": "chat.completion.chunk"}
            payload |= {"model": model, "choices": [], "usage": usage}
            await response.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        record["completed"] = True
    except (ConnectionResetError, asyncio.CancelledError):
        # The client (the chatbot) closed the connection: what a visitor leaving must cause.
        record["closed_by_client"] = True
        raise
    finally:
        record["ended"] = time.time()
    return response


async def _stream_fault(
    request: web.Request, response: web.StreamResponse, fault: str, state: dict[str, Any]
) -> None:
    if fault == "stream-error":
        error = {
            "error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error",
            }
        }
        await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
        await response.write_eof()
    elif fault == "stream-hang":
        await asyncio.sleep(state["slow_seconds"])
    elif fault == "stream-drop":
        assert request.transport is not None
        request.transport.close()


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[FakeState]["requests"]))


async def list_streams(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[FakeState]["streams"]))


async def reset(request: web.Request) -> web.Response:
    state = request.app[FakeState]
    state["requests"].clear()
    state["streams"].clear()
    state["flaky_seen"].clear()
    state["fault"] = ""
    return web.json_response({"ok": True})


async def force_fault(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[FakeState]["fault"] = str(body.get("fault", ""))
    return web.json_response({"ok": True})


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(
    *,
    delay_ms: float = 0,
    api_key: str = "",
    slow_seconds: float = 60,
    reply: str = "",
    record: bool = True,
    stream_pieces: int = 4,
    stream_interval_ms: float = 0,
) -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[FakeState] = {
        "delay": delay_ms / 1000,
        "api_key": api_key,
        "slow_seconds": slow_seconds,
        "reply": reply,
        "record": record,
        "fault": "",
        "flaky_seen": set(),
        "requests": collections.deque(maxlen=RECORD_LIMIT),
        "streams": collections.deque(maxlen=RECORD_LIMIT),
        "pieces": stream_pieces,
        "interval": stream_interval_ms / 1000,
    }
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/chat/completions", chat_completions)
    app.router.add_get("/_fake/requests", list_requests)
    app.router.add_get("/_fake/streams", list_streams)
    app.router.add_post("/_fake/reset", reset)
    app.router.add_post("/_fake/fault", force_fault)
    app.router.add_get("/_fake/health", health)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--api-key", default="", help="when set, requests must carry Bearer <key>")
    parser.add_argument("--slow-seconds", type=float, default=60)
    parser.add_argument("--reply", default="", help="fixed reply instead of echoing the message")
    parser.add_argument("--no-record", action="store_true", help="do not record requests (benchmarks)")
    parser.add_argument("--stream-pieces", type=int, default=4, help="pieces a streamed reply is cut into")
    parser.add_argument("--stream-interval-ms", type=float, default=0, help="pause between streamed pieces")
    args = parser.parse_args()
    try:
        import uvloop  # noqa: PLC0415

        uvloop.install()
    except ImportError:
        pass
    app = make_app(
        delay_ms=args.delay_ms,
        api_key=args.api_key,
        slow_seconds=args.slow_seconds,
        reply=args.reply,
        record=not args.no_record,
        stream_pieces=args.stream_pieces,
        stream_interval_ms=args.stream_interval_ms,
    )
    # A real API accepts bursts: with aiohttp's default backlog (128), 1,000 streams opened at once by the
    # chatbot would wait on SYN retransmits here (bench/streams.py).
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
