"""POST /chat: parse the request, let the chat service answer it, write JSON or a stream of events."""

from __future__ import annotations

import ipaddress
import logging
from contextlib import suppress
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import RequestBody, Response

from chatbot import texts
from chatbot.bodies import read_object, valid_text
from chatbot.errors import ApiError
from chatbot.events import EventStream
from chatbot.exchange import ChatRequest, ChatService, Exchange
from chatbot.openapi import (
    CHAT_EVENTS,
    CHAT_REPLY,
    CHAT_REQUEST,
    CONVERSATION_LINKS,
    KEY_ONLY,
    amend_response,
    error_responses,
    visitors_too,
)
from chatbot.replies import Reply

bp = Blueprint("chat")
log = logging.getLogger("chatbot.chat")


#: Server-side integrations (WordPress) call for all their visitors from one address: a caller holding the
#: secret key may name its visitor's, so that the per-address limit counts visitors, not the site.
CLIENT_IP_HEADER = "x-chatbot-client-ip"


def client_address(request: Request) -> str:
    """The address the per-address limit counts: the connection's, or the visitor's named by a key holder."""
    if request.ctx.caller.kind == "key":
        named = request.headers.get(CLIENT_IP_HEADER, "").strip()
        with suppress(ValueError):
            return str(ipaddress.ip_address(named))
    return str(request.remote_addr or request.ip)


def read_chat_request(body: bytes, max_chars: int) -> ChatRequest:
    """The request's fields from a raw body, or ApiError(400) saying what is wrong with it."""
    payload = read_object(body)
    message = payload.get("message")
    if message is None:
        raise ApiError(400, texts.MISSING)
    if not isinstance(message, str):
        raise ApiError(400, texts.NOT_STRING)
    valid_text(message)
    if not message.strip():
        raise ApiError(400, texts.BLANK)
    if len(message) > max_chars:
        raise ApiError(400, texts.TOO_LONG.format(limit=max_chars))
    conversation_id = payload.get("conversation_id")
    if conversation_id is not None and not isinstance(conversation_id, str):
        raise ApiError(400, texts.BAD_CONVERSATION_ID)
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, texts.BAD_STREAM)
    return ChatRequest(message, conversation_id, stream)


def read_message(body: bytes, max_chars: int) -> str:
    """The visitor's message alone (see read_chat_request)."""
    return read_chat_request(body, max_chars).message


def render(reply: Reply, exchange: Exchange) -> dict[str, Any]:
    """The fields of a reply, for the JSON answer and for the stream's `done` event alike."""
    body: dict[str, Any] = {"reply": reply.text}
    if reply.sources is not None:
        body["sources"] = list(reply.sources)
    if exchange.conversation_id is not None:
        body["conversation_id"] = exchange.conversation_id
    return body


@bp.post("/chat", ctx_visitors=True)
@openapi.definition(
    summary="Send a message to the chatbot",
    description=(
        'Answers with JSON, or with Server-Sent Events when the body says `"stream": true`: `delta` events '
        '(`{"text"}`) as the model writes, then one `done` event carrying the same fields as the JSON reply, '
        'or an `error` event (`{"error", "status"}`) if the model fails half-way.'
    ),
    tag="Chatbot",
    body=RequestBody(
        {"application/json": {**CHAT_REQUEST, "example": {"message": "Bonjour, comment ça va?"}}},
        required=True,
    ),
    response=[
        Response(
            {"application/json": CHAT_REPLY, "text/event-stream": CHAT_EVENTS},
            status=200,
            description="The chatbot's reply (JSON), or its stream of events when `stream` is true",
        ),
        *error_responses(400, 401, 403, 413, 429, 500, 502, 503, 504),
    ],
    secured=KEY_ONLY,
)
@visitors_too
async def chat(request: Request) -> HTTPResponse | None:
    service: ChatService = request.app.ctx.chat
    caller = request.ctx.caller
    request.ctx.caller_label = caller.label
    request.ctx.rate_headers = await service.admit(caller, client_address(request))
    chat_request = read_chat_request(request.body, request.app.ctx.settings.max_message_chars)
    exchange = await service.open(caller, chat_request)
    request.ctx.cache = "HIT" if exchange.cached is not None else ("MISS" if exchange.cache_key else None)
    if chat_request.stream:
        request.ctx.stream = True
        headers: dict[str, str] = dict(request.ctx.rate_headers)
        if request.ctx.cache:
            headers["X-Cache"] = request.ctx.cache
        pieces = service.stream(exchange, request_id=request.ctx.request_id)
        ping = request.app.ctx.settings.stream_ping_seconds
        stream = EventStream(request, pieces, ping_s=ping)
        await stream.run(headers, lambda reply: finish(request, reply, exchange))
        return None
    reply = await service.reply(exchange, request_id=request.ctx.request_id)
    request.ctx.usage = reply.usage
    cache = {"X-Cache": request.ctx.cache} if request.ctx.cache else None
    return json_response(finish(request, reply, exchange), headers=cache)


def finish(request: Request, reply: Reply, exchange: Exchange) -> dict[str, Any]:
    """The answer's fields; the exchange itself is logged only when LOG_CHAT_CONTENT allows it."""
    if request.app.ctx.settings.log_chat_content:
        log.info("chat exchange", extra={"user_message": exchange.prompt.message, "reply": reply.text})
    return render(reply, exchange)


amend_response(chat, 200, links=CONVERSATION_LINKS)
