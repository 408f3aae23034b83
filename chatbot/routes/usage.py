"""GET /usage: the caller's own token spend today, next to its daily budget."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import Response

from chatbot.exchange import ChatService
from chatbot.openapi import KEY_ONLY, USAGE, error_responses

bp = Blueprint("usage")


@bp.get("/usage")
@openapi.definition(
    summary="Tokens this key spent today (UTC) and its daily budget",
    tag="Chatbot",
    response=[Response({"application/json": USAGE}, status=200), *error_responses(401)],
    secured=KEY_ONLY,
)
async def usage(request: Request) -> HTTPResponse:
    service: ChatService = request.app.ctx.chat
    spent = await service.budget.spent(request.ctx.caller.budget)
    return json({"tokens_today": spent, "budget": service.budget.daily})
