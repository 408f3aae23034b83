"""POST /feedback: a visitor's 👍/👎 on a reply, kept as a structured log record (it reaches Cloud Logging
with the request id), counted in the metrics."""

from __future__ import annotations

import logging

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import RequestBody, Response

from chatbot import texts
from chatbot.bodies import read_object, valid_text
from chatbot.errors import ApiError
from chatbot.exchange import ChatService
from chatbot.openapi import FEEDBACK, KEY_ONLY, amend_response, error_responses, visitors_too
from chatbot.state import VALID_ID, Check, Unavailable, address_bucket

bp = Blueprint("feedback")
log = logging.getLogger("chatbot.feedback")
MAX_COMMENT_CHARS = 1000


def _read(body: bytes) -> tuple[str, str, str | None]:
    payload = read_object(body, empty=texts.BAD_RATING)
    conversation_id = payload.get("conversation_id")
    if not isinstance(conversation_id, str) or not VALID_ID.fullmatch(conversation_id):
        raise ApiError(400, texts.BAD_CONVERSATION_ID)
    rating = payload.get("rating")
    if rating not in ("up", "down"):
        raise ApiError(400, texts.BAD_RATING)
    comment = payload.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT_CHARS):
        raise ApiError(400, texts.BAD_COMMENT.format(limit=MAX_COMMENT_CHARS))
    return conversation_id, rating, valid_text(comment.strip()) if comment else None


@bp.post("/feedback", ctx_visitors=True)
@openapi.definition(
    summary="Rate a reply of a conversation (👍 up / 👎 down), with an optional comment",
    tag="Conversations",
    body=RequestBody({"application/json": FEEDBACK}, required=True),
    response=[Response(None, status=204, description="Recorded"), *error_responses(400, 401, 403, 404, 429)],
    secured=KEY_ONLY,
)
@visitors_too
async def feedback(request: Request) -> HTTPResponse:
    service: ChatService = request.app.ctx.chat
    settings = request.app.ctx.settings
    if settings.rate_limit_per_ip:
        address = address_bucket(request.remote_addr or request.ip)
        await service.enforce([Check("feedback", settings.rate_limit_per_ip, address)])
    conversation_id, rating, comment = _read(request.body)
    caller = request.ctx.caller
    if service.conversations.available:
        try:
            messages = await service.conversations.messages(conversation_id, caller.id)
        except Unavailable:
            messages = []  # Redis cannot tell now: a rating is worth keeping anyway
        if messages is None:
            raise ApiError(404, texts.CONVERSATION_NOT_FOUND)
        asked = [m["content"] for m in messages if m.get("role") == "user"]
        if asked and service.gaps is not None:
            await service.gaps.rated(str(asked[-1]), rating)
    request.app.ctx.metrics.feedback(rating)
    log.info(
        "feedback %s",
        rating,
        extra={
            "conversation_id": conversation_id,
            "rating": rating,
            "comment": comment,
            "caller": caller.label,
        },
    )
    return empty(status=204)


amend_response(feedback, 204, no_content=True)
