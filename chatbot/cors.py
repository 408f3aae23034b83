"""CORS: which browser origins may read which routes' answers.

CORS_ORIGINS lists trusted pages (they hold a key) and reaches every API route; WIDGET_ORIGINS lists the sites
embedding the widget and reaches only the widget's routes. Any other origin gets no CORS header at all (its
browser then refuses to show the answer), and `*` is sent only when CORS_ORIGINS says `*`.
"""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse, HTTPResponse, empty

from chatbot.config import Settings

#: The routes a widget page calls (paths, as Sanic routes them).
WIDGET_PATHS = ("/chat", "/conversations/<conversation_id:str>", "/feedback", "/widget/session")
API_PATHS = (*WIDGET_PATHS, "/usage", "/reports/faq-gaps")
ALLOW_HEADERS = "content-type, x-api-key, authorization, x-request-id"
EXPOSE_HEADERS = "x-request-id, retry-after, ratelimit, ratelimit-policy, x-cache"
MAX_AGE = "600"


class CorsPolicy:
    def __init__(self, settings: Settings) -> None:
        self._star = "*" in settings.cors_origin_list
        self._trusted = frozenset(settings.cors_origin_list)
        self._widget = frozenset(settings.widget_origin_list)

    def allow_origin(self, origin: str | None, route_path: str) -> str | None:
        """The Access-Control-Allow-Origin value for this origin on this route, or None: no CORS."""
        if not origin:
            return None
        if origin in self._trusted:
            return origin
        if origin in self._widget and f"/{route_path.lstrip('/')}" in WIDGET_PATHS:
            return origin
        return "*" if self._star else None


def own_origin(request: Request) -> str:
    """This service's origin as browsers see it (behind Nginx: from its X-Forwarded-Proto/Host/Port)."""
    scheme, port = request.scheme, request.server_port
    default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    return f"{scheme}://{request.server_name}{'' if default else f':{port}'}"


def _route_path(request: Request) -> str:
    return f"/{request.route.path}" if request.route is not None else ""


async def preflight(request: Request, **_: str) -> HTTPResponse:
    policy: CorsPolicy = request.app.ctx.cors
    origin = policy.allow_origin(request.headers.get("origin"), _route_path(request))
    headers = {"Vary": "Origin"}
    if origin is not None:
        headers |= {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        }
    return empty(headers=headers)


async def add_cors_headers(request: Request, response: BaseHTTPResponse) -> None:
    """Response middleware: the CORS fields of an actual (non-preflight) request."""
    if request.method == "OPTIONS":
        return
    policy: CorsPolicy = request.app.ctx.cors
    origin = policy.allow_origin(request.headers.get("origin"), _route_path(request))
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        # Added to, not replaced: the widget's files also vary with Accept-Encoding.
        vary = response.headers.get("Vary", "")
        if "origin" not in vary.lower():
            response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"


def install(app: Sanic, settings: Settings) -> None:  # type: ignore[type-arg]
    """Preflight routes for the API's paths, and the response middleware; nothing when no origin is listed
    (then OPTIONS is just another method the API does not have: 405)."""
    if not (settings.cors_origin_list or settings.widget_origin_list):
        return
    for number, path in enumerate(API_PATHS):
        app.add_route(preflight, path, methods=["OPTIONS"], name=f"preflight_{number}", ctx_public=True)
    app.on_response(add_cors_headers)  # type: ignore[no-untyped-call]
