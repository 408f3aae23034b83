"""A conversation's transcript for its owner (a page restoring it after a reload), and forgetting it."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import Parameter, Response

from chatbot import texts
from chatbot.errors import ApiError
from chatbot.exchange import ChatService
from chatbot.openapi import KEY_ONLY, MESSAGES, amend_response, error_responses, visitors_too
from chatbot.state import Unavailable

bp = Blueprint("conversations")
_ID = Parameter("conversation_id", str, "path", description="The id a reply returned", required=True)


def _service(request: Request) -> ChatService:
    service: ChatService = request.app.ctx.chat
    if not service.conversations.available:
        raise ApiError(404, texts.CONVERSATION_NOT_FOUND)  # no Redis: no conversation exists
    return service


@bp.get("/conversations/<conversation_id:str>", ctx_visitors=True)
@openapi.definition(
    summary="Read a conversation's messages (its owner only)",
    tag="Conversations",
    parameter=_ID,
    response=[
        Response({"application/json": MESSAGES}, status=200, description="Oldest first"),
        *error_responses(401, 403, 404, 503),
    ],
    secured=KEY_ONLY,
)
@visitors_too
async def read(request: Request, conversation_id: str) -> HTTPResponse:
    try:
        messages = await _service(request).conversations.messages(conversation_id, request.ctx.caller.id)
    except Unavailable:
        raise ApiError(503, texts.STATUS_TEXTS[503], headers={"Retry-After": "2"}) from None
    if messages is None:
        raise ApiError(404, texts.CONVERSATION_NOT_FOUND)
    return json({"conversation_id": conversation_id, "messages": messages})


@bp.delete("/conversations/<conversation_id:str>", ctx_visitors=True)
@openapi.definition(
    summary="Forget a conversation now (its owner only)",
    tag="Conversations",
    parameter=_ID,
    response=[Response(None, status=204, description="Forgotten"), *error_responses(401, 403, 404, 503)],
    secured=KEY_ONLY,
)
@visitors_too
async def forget(request: Request, conversation_id: str) -> HTTPResponse:
    try:
        forgotten = await _service(request).conversations.forget(conversation_id, request.ctx.caller.id)
    except Unavailable:
        raise ApiError(503, texts.STATUS_TEXTS[503], headers={"Retry-After": "2"}) from None
    if not forgotten:
        raise ApiError(404, texts.CONVERSATION_NOT_FOUND)
    return empty(status=204)


amend_response(forget, 204, no_content=True)
