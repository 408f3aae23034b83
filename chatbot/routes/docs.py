"""The API docs page (Swagger UI) served from a packaged copy: no third-party resource, a strict CSP.

Swagger UI's files come from the `swagger-ui-py` wheel (pinned in the lock file); nothing is fetched from a
CDN, so a visitor's address goes to no one else (a GDPR point for EU site owners) and the page works offline.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, html, text

from chatbot.errors import ApiError

bp = Blueprint("docs", url_prefix="/api-docs")


def _assets() -> Path:
    # Located, not imported: the package's own code (framework adapters, jinja2) is of no use here.
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


ASSETS = _assets()
#: The only files the page needs; nothing else of the package is reachable.
_SERVED = {
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
# Swagger UI sets style attributes (React), hence 'unsafe-inline' for styles only; scripts are ours alone.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chatbot MVP API</title>
<link rel="stylesheet" href="/api-docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/api-docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api-docs/assets/swagger-ui-bundle.js"></script>
<script src="/api-docs/init.js"></script>
</body>
</html>
"""
_INIT = """window.ui = SwaggerUIBundle({
  url: "/api-docs/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@bp.head("", ctx_public=True, name="page_head")
@bp.get("", ctx_public=True, name="page")
async def page(_: Request) -> HTTPResponse:
    return html(_PAGE, headers={**_HEADERS, "Cache-Control": "no-cache"})


@bp.get("/init.js", ctx_public=True, name="init")
async def init(_: Request) -> HTTPResponse:
    return text(_INIT, content_type="application/javascript; charset=utf-8", headers=_HEADERS)


@bp.get("/assets/<name:str>", ctx_public=True, name="asset")
async def asset(_: Request, name: str) -> HTTPResponse:
    if name not in _SERVED:
        raise ApiError(404, "Ressource introuvable.")
    return await file(
        ASSETS / name,
        mime_type=_SERVED[name],
        headers={**_HEADERS, "Cache-Control": "public, max-age=86400"},
    )
