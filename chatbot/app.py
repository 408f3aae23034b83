"""The application factory: `create_app(settings)` builds one Sanic app per worker process."""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from functools import partial
from typing import Any

import ujson
from sanic import Request, Sanic
from sanic.config import Config
from sanic.response import BaseHTTPResponse

from chatbot import __version__, cors, stopping
from chatbot.access import log_access
from chatbot.auth import KeyChecker, authenticate
from chatbot.config import Provider, Settings, load_settings
from chatbot.errors import JsonErrorHandler, SafeRequest
from chatbot.exchange import ChatService
from chatbot.faq import FaqStore
from chatbot.llm import ChatClient, make_client
from chatbot.logs import CloudShipper, configure_logging, request_id_var, start_cloud_logging
from chatbot.metrics import make_metrics
from chatbot.openapi import SECURITY_SCHEME, VISITOR_SCHEME
from chatbot.replies import make_responder
from chatbot.routes import assets, chat, conversations, docs, feedback, meta, reports, usage, widget
from chatbot.state import RedisLink
from chatbot.supervise import WorkerSupervisor, start_supervisor, stop_supervisor
from chatbot.tokens import TokenSigner

APP_NAME = "chatbot"
REQUEST_ID_HEADER = "X-Request-ID"
# A client's own id is kept when it is this sane: short, printable, no spaces (it ends up in every log line).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# A client silent for this long in the middle of its headers or body is cut off (Nginx uses the same).
CLIENT_TIMEOUT_S = 10
# Replies are mostly French: send UTF-8 text, not \u escapes.
_dumps = partial(ujson.dumps, ensure_ascii=False, escape_forward_slashes=False)


class AppContext:
    """What each worker keeps on `app.ctx`: settings and the external clients it owns."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = KeyChecker(settings.api_keys)
        self.widget_keys = KeyChecker(settings.widget_keys)
        self.metrics = make_metrics(settings.metrics)
        self.tokens = TokenSigner(
            settings.widget_secret, ttl=settings.widget_token_ttl, derive_from=settings.api_keys
        )
        self.cors = cors.CorsPolicy(settings)
        self.link = RedisLink(settings.redis_url, on_error=self.metrics.redis_error)
        self.llm: ChatClient | None = None
        self.faq: FaqStore | None = None
        self.chat: ChatService | None = None
        self.cloud: CloudShipper | None = None
        self.supervisor: WorkerSupervisor | None = None
        self.ready = False

    def readiness(self) -> dict[str, Any]:
        state: dict[str, Any] = {"status": "ready" if self.ready else "starting"}
        state["provider"] = self.settings.provider.value
        if self.settings.provider is Provider.OPENAI:
            state["model"] = self.settings.openai_model
        state["faq_entries"] = 0 if self.faq is None else len(self.faq.index)
        # Informative only: without Redis the chatbot still answers (no history, limits per worker).
        state["redis"] = self.link.status
        return state


ChatbotApp = Sanic[Config, AppContext]


def _configure(app: ChatbotApp, settings: Settings) -> None:
    app.config.update(
        {
            # Sanic answers 413 from the Content-Length (or while streaming) without buffering the rest.
            "REQUEST_MAX_SIZE": settings.max_body_bytes,
            # Request line and headers; Nginx's buffers are derived from the same MAX_HEADER_BYTES.
            "REQUEST_MAX_HEADER_SIZE": settings.max_header_bytes,
            "REQUEST_TIMEOUT": CLIENT_TIMEOUT_S,
            "PROXIES_COUNT": settings.proxies_count,
            "ACCESS_LOG": False,
            "MOTD": False,
            # Longer than Nginx's upstream keepalive (60 s), so Nginx closes idle connections first.
            "KEEP_ALIVE_TIMEOUT": 75,
            # Never cut a reply short before the upstream call (and its retries) can end on its own.
            "RESPONSE_TIMEOUT": settings.openai_timeout * (settings.openai_max_retries + 1) + 30,
            # A worker asked to stop finishes what it serves, streams included, for up to this long.
            "GRACEFUL_SHUTDOWN_TIMEOUT": settings.shutdown_grace_seconds,
            "OAS_URL_PREFIX": "/api-docs",
            # sanic-ext's own UI pages load Swagger from a CDN: routes/docs.py serves a packaged copy instead.
            "OAS_UI_DEFAULT": None,
            "OAS_UI_REDOC": False,
            "OAS_UI_SWAGGER": False,
            "OAS_IGNORE_HEAD": True,
            "OAS_IGNORE_OPTIONS": True,
            "HEALTH": False,
            # chatbot/cors.py decides per route (CORS_ORIGINS everywhere, WIDGET_ORIGINS on the widget's).
            "CORS": False,
        }
    )


def _document(app: ChatbotApp) -> None:
    app.ext.openapi.describe(
        "Chatbot MVP API",
        version=__version__,
        description=(
            "A self-hosted chatbot. `POST /chat` with a JSON `message` and the `x-api-key` header returns "
            "the model's `reply` (or streams it). Web pages use a publishable key instead: `POST "
            "/widget/session` gives a short-lived visitor token for `Authorization: Bearer`. Every error is "
            'JSON `{"error": "..."}`; every response carries `X-Request-ID`.'
        ),
    )
    app.ext.openapi.add_security_scheme(SECURITY_SCHEME, "apiKey", location="header", name="x-api-key")
    app.ext.openapi.add_security_scheme(
        VISITOR_SCHEME,
        "http",
        scheme="bearer",
        description="A visitor token from POST /widget/session, used from the site it was issued to",
    )


def create_app(settings: Settings | None = None) -> ChatbotApp:
    """Build the app; with no settings, read them from the environment (for `sanic --factory`)."""
    settings = settings or load_settings()
    configure_logging(settings)
    app: ChatbotApp = Sanic(
        APP_NAME,
        ctx=AppContext(settings),
        error_handler=JsonErrorHandler(),
        request_class=SafeRequest,
        configure_logging=False,
        dumps=_dumps,
    )
    _configure(app, settings)
    _document(app)
    blueprints = (meta.bp, docs.bp, chat.bp, conversations.bp, usage.bp, widget.bp, feedback.bp, reports.bp)
    for blueprint in (*blueprints, assets.bp):
        app.blueprint(blueprint)
    assets.widget_files()  # read once, here: an image without the widget's files fails at start, not later
    cors.install(app, settings)
    app.on_request(_start_request, priority=100)
    app.on_request(authenticate, priority=90)
    app.on_response(_finish_request, priority=100)  # type: ignore[no-untyped-call]
    app.before_server_start(_start_clients)
    app.after_server_start(_mark_ready)
    app.before_server_stop(_mark_not_ready)
    app.after_server_stop(_stop_clients)
    app.main_process_ready(start_supervisor)
    app.main_process_ready(stopping.install)
    app.main_process_stop(stop_supervisor)
    return app


async def _start_request(request: Request) -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "").strip()
    request_id = given if given and _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    request.ctx.request_id = request_id
    request.ctx.started = time.perf_counter()
    request_id_var.set(request_id)


async def _finish_request(request: Request, response: BaseHTTPResponse) -> None:
    if getattr(request.ctx, "request_id", None) is None:  # failed before the request middleware (e.g. 404)
        await _start_request(request)
    response.headers[REQUEST_ID_HEADER] = request.ctx.request_id
    for name, value in (getattr(request.ctx, "rate_headers", None) or {}).items():
        response.headers.setdefault(name, value)
    if getattr(request.ctx, "stream", False) and response.status == 200:
        return  # a stream logs its access line when it ends (chatbot/events.py)
    log_access(request, response.status, len(response.body or b""))


async def _start_clients(app: ChatbotApp) -> None:
    ctx, settings = app.ctx, app.ctx.settings
    # Building the Google client reads credentials from disk; keep that off the event loop.
    ctx.cloud = await asyncio.to_thread(start_cloud_logging, settings)
    if settings.faq_file is not None:
        # Checked by a background task, never on the request path (check_interval=inf).
        ctx.faq = await asyncio.to_thread(FaqStore, settings.faq_file, check_interval=math.inf)
        app.add_task(_watch_faq(ctx.faq, settings.faq_reload_seconds), name="faq-watch")
    await ctx.link.start()
    if settings.provider is Provider.OPENAI:
        ctx.llm = make_client(settings)
        await ctx.llm.start()
    ctx.chat = ChatService(settings, make_responder(settings, ctx.llm), ctx.faq, ctx.link, ctx.metrics)
    ctx.chat.start()


async def _watch_faq(store: FaqStore, interval: float) -> None:
    """Reload the FAQ when its file changes; a broken edit keeps the last good version (the store logs it)."""
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(store.refresh)


async def _mark_ready(app: ChatbotApp) -> None:
    app.ctx.ready = True


async def _mark_not_ready(app: ChatbotApp) -> None:
    app.ctx.ready = False


async def _stop_clients(app: ChatbotApp) -> None:
    if app.ctx.llm is not None:
        await app.ctx.llm.close()
    await app.ctx.link.close()
    if app.ctx.cloud is not None:
        await asyncio.to_thread(app.ctx.cloud.close)
