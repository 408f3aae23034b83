"""Server-Sent Events out: `delta`, `done` and `error` events, and a `: ping` comment while the model is
silent so that no proxy closes an idle stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import suppress
from typing import Any

import ujson
from sanic import Request
from sanic.response import BaseHTTPResponse

from chatbot.access import log_access
from chatbot.errors import upstream_log
from chatbot.llm import UpstreamError
from chatbot.replies import Piece, Reply

log = logging.getLogger("chatbot.stream")
PING_S = 15.0
CONTENT_TYPE = "text/event-stream; charset=utf-8"
PING = b": ping\n\n"


def event(name: str, data: dict[str, Any]) -> bytes:
    payload = ujson.dumps(data, ensure_ascii=False, escape_forward_slashes=False)
    return f"event: {name}\ndata: {payload}\n\n".encode()


class EventStream:
    """One streamed answer: `run` sends every piece, then `done` or `error`, and logs the access line."""

    def __init__(
        self, request: Request, pieces: AsyncGenerator[Piece, None], *, ping_s: float = PING_S
    ) -> None:
        self._request = request
        self._pieces = pieces
        self._ping_s = ping_s
        self._started = time.perf_counter()
        self._produced: list[str] = []
        self._sent = 0
        self._pending: asyncio.Future[Piece] | None = None

    async def run(self, headers: dict[str, str], done: Callable[[Reply], dict[str, Any]]) -> None:
        """The first piece is awaited before anything is sent: a failure by then (bad key upstream, a refused
        connection) still becomes a plain JSON error status through the error handler."""
        try:
            item = await self._next()
            response = await self._request.respond(
                status=200,
                content_type=CONTENT_TYPE,
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **headers},
            )
            try:
                await self._relay(response, item, done)
            except UpstreamError as error:
                await self._send(response, self._failed(error))
            await response.eof()
            log_access(self._request, 200, self._sent)
        except asyncio.CancelledError:
            # The visitor left: closing the pieces below closes the upstream connection, so the model stops.
            log.info(
                "client left during a stream; upstream call closed",
                extra={
                    "produced_chars": sum(map(len, self._produced)),
                    "produced_pieces": len(self._produced),
                },
            )
            raise
        finally:
            if self._pending is not None and not self._pending.done():
                self._pending.cancel()
                with suppress(BaseException):
                    await self._pending
            await self._pieces.aclose()

    async def _next(self) -> Piece:
        self._pending = asyncio.ensure_future(anext(self._pieces))
        return await asyncio.shield(self._pending)

    async def _relay(
        self, response: BaseHTTPResponse, item: Piece, done: Callable[[Reply], dict[str, Any]]
    ) -> None:
        while not isinstance(item, Reply):
            if item:
                if not self._produced:
                    elapsed = time.perf_counter() - self._started
                    self._request.ctx.first_delta_ms = round(elapsed * 1000, 1)
                    self._request.app.ctx.metrics.first_delta(elapsed)
                self._produced.append(item)
                await self._send(response, event("delta", {"text": item}))
            self._pending = asyncio.ensure_future(anext(self._pieces))
            # Waiting without cancelling: a ping goes out each time the model stays silent for ping_s.
            while not (await asyncio.wait({self._pending}, timeout=self._ping_s))[0]:
                await self._send(response, PING)
            item = self._pending.result()
        self._request.ctx.usage = item.usage
        await self._send(response, event("done", done(item)))

    def _failed(self, error: UpstreamError) -> bytes:
        fault = error.fault
        upstream_log.log(
            logging.WARNING if fault.status in (503, 504) else logging.ERROR,
            "upstream call failed during a stream: %s",
            fault.name,
            extra={
                "cause": error.cause,
                "upstream_fault": fault.name.lower(),
                "produced_chars": sum(map(len, self._produced)),
            },
        )
        self._request.ctx.upstream_fault = fault.name.lower()
        self._request.app.ctx.metrics.fault(fault.name.lower())
        return event("error", {"error": fault.text, "status": fault.status})

    async def _send(self, response: BaseHTTPResponse, data: bytes) -> None:
        await response.send(data)
        self._sent += len(data)
