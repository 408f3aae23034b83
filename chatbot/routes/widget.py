"""POST /widget/session: a publishable key and an allowed Origin in, a short-lived visitor token out.

Nothing a page shows is secret: the publishable key only names the site; what a token can cost is bounded by
the per-visitor and per-address limits and by the publishable key's daily token budget.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import RequestBody, Response

from chatbot import texts
from chatbot.auth import KeyChecker
from chatbot.bodies import read_object
from chatbot.errors import ApiError
from chatbot.exchange import ChatService
from chatbot.openapi import SESSION, SESSION_REQUEST, error_responses
from chatbot.state import Check, address_bucket
from chatbot.tokens import RENEWABLE_S, TokenSigner, fingerprint

bp = Blueprint("widget")


def _origin(request: Request) -> str:
    return request.headers.get("origin", "").strip().rstrip("/")


@bp.post("/widget/session", ctx_public=True)
@openapi.definition(
    summary="A visitor token for the widget (publishable key, from an allowed site)",
    description=(
        "Called by the widget from a page of a site listed in WIDGET_ORIGINS, with its publishable key. "
        "The token goes in `Authorization: Bearer` on /chat, /conversations and /feedback, from that site "
        "only. Send the previous token as `visitor` to keep the same visitor (and conversations)."
    ),
    tag="Widget",
    body=RequestBody({"application/json": SESSION_REQUEST}, required=True),
    response=[
        Response({"application/json": SESSION}, status=200, description="A signed visitor token"),
        *error_responses(400, 403, 429),
    ],
)
async def session(request: Request) -> HTTPResponse:
    settings = request.app.ctx.settings
    if not settings.widget_keys:
        raise ApiError(403, texts.WIDGET_OFF)
    service: ChatService = request.app.ctx.chat
    if settings.rate_limit_widget_session:
        address = address_bucket(request.remote_addr or request.ip)
        await service.enforce([Check("session", settings.rate_limit_widget_session, address)])
    payload = read_object(request.body, empty=texts.WIDGET_REFUSED)
    key = payload.get("key")
    origin = _origin(request)
    widget_keys: KeyChecker = request.app.ctx.widget_keys
    if (
        not isinstance(key, str)
        or not widget_keys.accepts(key.strip())
        or origin not in settings.widget_origin_list
    ):
        raise ApiError(403, texts.WIDGET_REFUSED)
    signer: TokenSigner = request.app.ctx.tokens
    previous = payload.get("visitor")
    known = signer.read(previous, allow_expired_for=RENEWABLE_S) if isinstance(previous, str) else None
    visitor_id = known.id if known is not None and known.origin == origin else None
    token = signer.issue(origin, fingerprint(key.strip()), visitor_id)
    return json({"token": token, "expires_in": signer.ttl}, headers={"Cache-Control": "no-store"})
