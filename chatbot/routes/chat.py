"""POST /chat: the visitor's message in, the model's reply out."""

from __future__ import annotations

import json
import logging
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import RequestBody, Response

from chatbot.config import Provider, Settings
from chatbot.errors import ApiError, error_response
from chatbot.faq import FaqStore, Hit, grounded_messages, offline_answer, sources
from chatbot.llm import ChatClient, Message, UpstreamError
from chatbot.logs import request_id_var
from chatbot.openapi import CHAT_REPLY, CHAT_REQUEST, SECURITY_SCHEME, error_responses

bp = Blueprint("chat")
log = logging.getLogger("chatbot.chat")

MISSING = "Message manquant dans la requête."
NOT_JSON = "Le corps de la requête n'est pas du JSON valide."
NOT_OBJECT = 'Le corps de la requête doit être un objet JSON, par exemple {"message": "Bonjour"}.'
NOT_STRING = "Le champ message doit être une chaîne de caractères."
BLANK = "Le champ message est vide."


def read_message(body: bytes, max_chars: int) -> str:
    """The visitor's message from a raw body, or ApiError(400) saying what is wrong with it."""
    if not body.strip():
        raise ApiError(400, MISSING)
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, NOT_JSON) from None
    if not isinstance(payload, dict):
        raise ApiError(400, NOT_OBJECT)
    message = payload.get("message")
    if message is None:
        raise ApiError(400, MISSING)
    if not isinstance(message, str):
        raise ApiError(400, NOT_STRING)
    if not message.strip():
        raise ApiError(400, BLANK)
    if len(message) > max_chars:
        raise ApiError(400, f"Message trop long : {max_chars} caractères au maximum.")
    return message


def build_messages(settings: Settings, message: str, hits: list[Hit] | None) -> list[Message]:
    """What the model is sent: grounded in the FAQ entries when a FAQ is configured, else the bare message."""
    if hits is not None:
        return list(grounded_messages(message, hits, system_prompt=settings.system_prompt))
    messages: list[Message] = []
    if settings.system_prompt:
        messages.append({"role": "system", "content": settings.system_prompt})
    messages.append({"role": "user", "content": message})
    return messages


def retrieve(settings: Settings, faq: FaqStore | None, message: str) -> list[Hit] | None:
    """The FAQ entries relevant to the message (None: no FAQ configured)."""
    if faq is None:
        return None
    return faq.current().search(message, top_k=settings.faq_top_k, min_score=settings.faq_min_score)


@bp.post("/chat")
@openapi.definition(
    summary="Send a message to the chatbot",
    tag="Chatbot",
    body=RequestBody(
        {"application/json": {**CHAT_REQUEST, "example": {"message": "Bonjour, comment ça va?"}}},
        required=True,
    ),
    response=[
        Response({"application/json": CHAT_REPLY}, status=200, description="The chatbot's reply"),
        *error_responses(400, 401, 413, 500, 502, 503, 504),
    ],
    secured={SECURITY_SCHEME: []},
)
async def chat(request: Request) -> HTTPResponse:
    settings: Settings = request.app.ctx.settings
    message = read_message(request.body, settings.max_message_chars)
    hits = retrieve(settings, request.app.ctx.faq, message)
    if settings.provider is Provider.FAQ:
        offline = offline_answer(message, hits or [], fallback=settings.faq_fallback)
        reply, used = offline.reply, offline.sources
    else:
        client: ChatClient = request.app.ctx.llm
        try:
            messages = build_messages(settings, message, hits)
            completion = await client.complete(messages, request_id=request_id_var.get())
        except UpstreamError as error:
            level = logging.WARNING if error.fault.status in (503, 504) else logging.ERROR
            log.log(level, "upstream call failed: %s", error.fault.name, extra={"cause": error.cause})
            headers = {"Retry-After": str(error.retry_after or 1)} if error.fault.status == 503 else None
            return error_response(error.fault.status, error.fault.text, headers)
        request.ctx.usage = completion.usage
        reply, used = completion.text, sources(hits or [])
    if settings.log_chat_content:
        log.info("chat exchange", extra={"user_message": message, "reply": reply})
    # The guide's `{"reply"}` stays exactly as it was unless FAQ entries were used (offline: always listed).
    if used or settings.provider is Provider.FAQ:
        return json_response({"reply": reply, "sources": used})
    return json_response({"reply": reply})
