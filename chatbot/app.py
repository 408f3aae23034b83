"""The application factory: `create_app(settings)` builds one Sanic app per worker process."""

from __future__ import annotations

import asyncio
import logging
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

from chatbot import __version__
from chatbot.auth import KeyChecker, require_api_key
from chatbot.config import Provider, Settings, load_settings
from chatbot.errors import JsonErrorHandler
from chatbot.faq import FaqStore
from chatbot.llm import ChatClient, make_client
from chatbot.logs import CloudShipper, access_record, configure_logging, request_id_var, start_cloud_logging
from chatbot.openapi import SECURITY_SCHEME
from chatbot.routes import chat, meta
from chatbot.supervise import WorkerSupervisor, start_supervisor, stop_supervisor

APP_NAME = "chatbot"
REQUEST_ID_HEADER = "X-Request-ID"
# A client's own id is kept when it is this sane: short, printable, no spaces (it ends up in every log line).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

access_log = logging.getLogger("chatbot.access")
# Replies are mostly French: send UTF-8 text, not \u escapes.
_dumps = partial(ujson.dumps, ensure_ascii=False, escape_forward_slashes=False)


class AppContext:
    """What each worker keeps on `app.ctx`: settings and the external clients it owns."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = KeyChecker(settings.api_keys)
        self.llm: ChatClient | None = None
        self.faq: FaqStore | None = None
        self.cloud: CloudShipper | None = None
        self.supervisor: WorkerSupervisor | None = None
        self.ready = False

    def readiness(self) -> dict[str, Any]:
        state: dict[str, Any] = {"status": "ready" if self.ready else "starting"}
        state["provider"] = self.settings.provider.value
        if self.settings.provider is Provider.OPENAI:
            state["model"] = self.settings.openai_model
        state["faq_entries"] = 0 if self.faq is None else len(self.faq.current())
        return state


ChatbotApp = Sanic[Config, AppContext]


def _configure(app: ChatbotApp, settings: Settings) -> None:
    app.config.update(
        {
            # Sanic answers 413 from the Content-Length (or while streaming) without buffering the rest.
            "REQUEST_MAX_SIZE": settings.max_body_bytes,
            "PROXIES_COUNT": settings.proxies_count,
            "ACCESS_LOG": False,
            "MOTD": False,
            # Longer than Nginx's upstream keepalive (60 s), so Nginx closes idle connections first.
            "KEEP_ALIVE_TIMEOUT": 75,
            # Never cut a reply short before the upstream call (and its retries) can end on its own.
            "RESPONSE_TIMEOUT": settings.openai_timeout * (settings.openai_max_retries + 1) + 30,
            "OAS_URL_PREFIX": "/api-docs",
            "OAS_UI_DEFAULT": "swagger",
            "OAS_UI_REDOC": False,
            "OAS_UI_SWAGGER_HTML_TITLE": "Chatbot MVP API",
            "OAS_IGNORE_HEAD": True,
            "OAS_IGNORE_OPTIONS": True,
            "HEALTH": False,
            "CORS": bool(settings.cors_origin_list),
            "CORS_ORIGINS": ",".join(settings.cors_origin_list),
            "CORS_METHODS": "GET,POST,OPTIONS",
            "CORS_ALLOW_HEADERS": "content-type,x-api-key,x-request-id",
            "CORS_EXPOSE_HEADERS": "x-request-id,retry-after",
            "CORS_MAX_AGE": 600,
            # `*` only when the list says so; otherwise each listed origin is echoed back on its own.
            "CORS_SEND_WILDCARD": "*" in settings.cors_origin_list,
            "CORS_SUPPORTS_CREDENTIALS": False,
            # Only a request with an Origin header (a browser's cross-origin call) gets Allow-Origin back.
            "CORS_ALWAYS_SEND": False,
        }
    )


def _document(app: ChatbotApp) -> None:
    app.ext.openapi.describe(
        "Chatbot MVP API",
        version=__version__,
        description=(
            "A self-hosted chatbot. `POST /chat` with a JSON `message` and the `x-api-key` header returns "
            'the model\'s `reply`. Every error is JSON `{"error": "..."}`; every response carries '
            "`X-Request-ID`."
        ),
    )
    app.ext.openapi.add_security_scheme(SECURITY_SCHEME, "apiKey", location="header", name="x-api-key")


def create_app(settings: Settings | None = None) -> ChatbotApp:
    """Build the app; with no settings, read them from the environment (for `sanic --factory`)."""
    settings = settings or load_settings()
    configure_logging(settings)
    app: ChatbotApp = Sanic(
        APP_NAME,
        ctx=AppContext(settings),
        error_handler=JsonErrorHandler(),
        configure_logging=False,
        dumps=_dumps,
    )
    _configure(app, settings)
    _document(app)
    app.blueprint(meta.bp)
    app.blueprint(chat.bp)
    app.on_request(_start_request, priority=100)
    app.on_request(require_api_key, priority=90)
    app.on_response(_finish_request, priority=100)  # type: ignore[no-untyped-call]
    app.before_server_start(_start_clients)
    app.after_server_start(_mark_ready)
    app.before_server_stop(_mark_not_ready)
    app.after_server_stop(_stop_clients)
    app.main_process_ready(start_supervisor)
    app.main_process_stop(stop_supervisor)
    return app


async def _start_request(request: Request) -> None:
    given = request.headers.get(REQUEST_ID_HEADER)
    request_id = given if given and _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    request.ctx.request_id = request_id
    request.ctx.started = time.perf_counter()
    request_id_var.set(request_id)


async def _finish_request(request: Request, response: BaseHTTPResponse) -> None:
    request_id = getattr(request.ctx, "request_id", None)
    if request_id is None:  # the request failed before the request middleware ran (e.g. 404)
        await _start_request(request)
        request_id = request.ctx.request_id
    response.headers[REQUEST_ID_HEADER] = request_id
    level = logging.ERROR if response.status >= 500 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    latency = time.perf_counter() - request.ctx.started
    extra: dict[str, Any] = {
        "httpRequest": access_record(
            method=request.method,
            url=request.path if not request.query_string else f"{request.path}?{request.query_string}",
            status=response.status,
            latency_s=latency,
            user_agent=request.headers.get("user-agent", ""),
            remote_ip=request.remote_addr or request.ip,
            size=len(response.body or b""),
        ),
        "request_id": request_id,
    }
    usage = getattr(request.ctx, "usage", None)
    if usage:
        extra["usage"] = usage
    access_log.log(level, "%s %s %d", request.method, request.path, response.status, extra=extra)


async def _start_clients(app: ChatbotApp) -> None:
    settings = app.ctx.settings
    # Building the Google client reads credentials from disk; keep that off the event loop.
    app.ctx.cloud = await asyncio.to_thread(start_cloud_logging, settings)
    if settings.faq_file is not None:
        # Checked by a background task, never on the request path (check_interval=inf).
        app.ctx.faq = await asyncio.to_thread(FaqStore, settings.faq_file, check_interval=math.inf)
        app.add_task(_watch_faq(app.ctx.faq, settings.faq_reload_seconds), name="faq-watch")
    if settings.provider is Provider.OPENAI:
        client = make_client(settings)
        await client.start()
        app.ctx.llm = client


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
    if app.ctx.cloud is not None:
        await asyncio.to_thread(app.ctx.cloud.close)
