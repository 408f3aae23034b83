"""Service routes: the guide's banner, liveness and readiness. No key needed."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw, text
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import Response

from chatbot.errors import ApiError
from chatbot.metrics import NoMetrics, exposition
from chatbot.openapi import HEALTH, READY
from chatbot.texts import BANNER, STATUS_TEXTS

bp = Blueprint("meta")


# HEAD answers like GET (headers, no body): uptime checks that use HEAD must see the service up.
@bp.head("/", ctx_public=True, name="banner_head")
@bp.get("/", ctx_public=True)
@openapi.definition(
    summary="Banner: the service runs",
    tag="Service",
    response=[Response({"text/plain": {"type": "string", "example": BANNER}}, status=200)],
)
async def banner(_: Request) -> HTTPResponse:
    return text(BANNER)


@bp.head("/healthz", ctx_public=True, name="healthz_head")
@bp.get("/healthz", ctx_public=True)
@openapi.definition(
    summary="Liveness: the process answers (no upstream call)",
    tag="Service",
    response=[Response({"application/json": HEALTH}, status=200)],
)
async def healthz(_: Request) -> HTTPResponse:
    return json({"status": "ok"})


@bp.get("/metrics", ctx_public=True)
@openapi.exclude()
async def metrics(request: Request) -> HTTPResponse:
    """Prometheus text format, every worker's values merged. Only for direct scrapes on the private network:
    anything that came through a proxy (Nginx, a load balancer: they add X-Forwarded-For) gets 404."""
    if isinstance(request.app.ctx.metrics, NoMetrics) or "x-forwarded-for" in request.headers:
        raise ApiError(404, STATUS_TEXTS[404])
    body, content_type = await asyncio.to_thread(exposition)
    return raw(body, content_type=content_type)


@bp.head("/readyz", ctx_public=True, name="readyz_head")
@bp.get("/readyz", ctx_public=True)
@openapi.definition(
    summary="Readiness: clients started, knowledge loaded (Redis down does not make it unready)",
    tag="Service",
    response=[
        Response({"application/json": READY}, status=200),
        Response({"application/json": READY}, status=503, description="Not ready yet"),
    ],
)
async def readyz(request: Request) -> HTTPResponse:
    state = request.app.ctx.readiness()
    return json(state, status=200 if state["status"] == "ready" else 503)
