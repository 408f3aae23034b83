"""GET /reports/faq-gaps: the questions the FAQ did not answer, most frequent first, with their ratings
(FAQ_GAPS=true). For the site owner: the secret key only, never a widget token."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import Parameter, Response
from sanic_ext.extensions.openapi.types import Integer

from chatbot.errors import ApiError
from chatbot.exchange import ChatService
from chatbot.openapi import FAQ_GAPS, KEY_ONLY, error_responses

bp = Blueprint("reports")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


@bp.get("/reports/faq-gaps")
@openapi.definition(
    summary="Questions the FAQ did not answer, most frequent first (FAQ_GAPS=true)",
    tag="Reports",
    parameter=Parameter(
        "limit",
        Integer(minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),  # type: ignore[no-untyped-call]
        "query",
        description="At most this many",
    ),
    response=[Response({"application/json": FAQ_GAPS}, status=200), *error_responses(400, 401)],
    secured=KEY_ONLY,
)
async def faq_gaps(request: Request) -> HTTPResponse:
    raw = str(request.get_args(keep_blank_values=True).get("limit", DEFAULT_LIMIT))  # `?limit=` is not 50
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, f"Le paramètre limit doit être un entier de 1 à {MAX_LIMIT}.")
    service: ChatService = request.app.ctx.chat
    settings = request.app.ctx.settings
    body: dict[str, Any] = {"enabled": service.gaps is not None, "days": settings.faq_gaps_days, "gaps": []}
    if service.gaps is not None:
        gaps = await service.gaps.report(int(raw))
        body["gaps"] = [{"question": g.question, "count": g.count, "up": g.up, "down": g.down} for g in gaps]
    return json(body)
