"""The widget's files and its demo page: GET /widget.js (the loader pages embed: short cache, ETag), GET
/widget/<digest>/panel.js (the chat panel, loaded on first use: its URL changes with its content, so it is
cached for a year), GET /demo (a page with the widget on it, under a strict Content-Security-Policy).

The files come from the repository's `widget/` folder (the image copies it to /usr/share/chatbot/widget). They
are served as written, except that the loader learns the panel's current path; both are gzipped once here
(Nginx compresses nothing).
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import html
import re
from dataclasses import dataclass
from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, raw, redirect
from sanic_ext import openapi

from chatbot import texts
from chatbot.cors import own_origin
from chatbot.errors import ApiError

bp = Blueprint("assets")

#: Where the widget's sources are: beside the package in a checkout, or where chatbot/Dockerfile puts them.
FOLDERS = (Path(__file__).resolve().parents[2] / "widget", Path("/usr/share/chatbot/widget"))
PANEL_PLACEHOLDER = b"__PANEL_PATH__"
JAVASCRIPT = "text/javascript; charset=utf-8"
#: The loader's URL is fixed in every page that embeds it: caches keep it briefly and revalidate (ETag).
LOADER_CACHE = "public, max-age=300"
PANEL_CACHE = "public, max-age=31536000, immutable"
_DIGEST = re.compile(r"[0-9a-f]{16}")
# Any page may load these (a script tag, or import() for the panel); pages isolated with COEP may too.
_SHARED = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
    "Vary": "Accept-Encoding",
}


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, the same gzipped, and an ETag for each."""

    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Asset:
        # mtime=0: the same bytes give the same gzip stream, in every worker and every image.
        return cls(body, gzip.compress(body, 9, mtime=0), hashlib.sha256(body).hexdigest()[:16])


@dataclass(frozen=True)
class WidgetFiles:
    loader: Asset
    panel: Asset
    panel_path: str


def _folder() -> Path:
    for folder in FOLDERS:
        if (folder / "loader.js").is_file() and (folder / "panel.js").is_file():
            return folder
    raise RuntimeError(f"the widget's files are missing (looked in {', '.join(map(str, FOLDERS))})")


@functools.cache
def widget_files() -> WidgetFiles:
    folder = _folder()
    panel = Asset.of((folder / "panel.js").read_bytes())
    panel_path = f"/widget/{panel.etag}/panel.js"
    loader = (folder / "loader.js").read_bytes().replace(PANEL_PLACEHOLDER, panel_path.encode())
    return WidgetFiles(Asset.of(loader), panel, panel_path)


def _serve(request: Request, asset: Asset, cache: str) -> HTTPResponse:
    gzipped = "gzip" in request.headers.get("accept-encoding", "").lower()
    etag = f'"{asset.etag}-gz"' if gzipped else f'"{asset.etag}"'
    headers = {**_SHARED, "Cache-Control": cache, "ETag": etag}
    given = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in given or "*" in given:
        return empty(status=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return raw(asset.gzipped if gzipped else asset.body, content_type=JAVASCRIPT, headers=headers)


@bp.get("/widget.js", ctx_public=True)
@openapi.exclude()
async def loader(request: Request) -> HTTPResponse:
    return _serve(request, widget_files().loader, LOADER_CACHE)


@bp.get("/widget/<digest:str>/panel.js", ctx_public=True)
@openapi.exclude()
async def panel(request: Request, digest: str) -> HTTPResponse:
    files = widget_files()
    if digest == files.panel.etag:
        return _serve(request, files.panel, PANEL_CACHE)
    if _DIGEST.fullmatch(digest):
        # A page whose loader predates a deploy (it is cached 5 minutes) still gets today's panel.
        return redirect(files.panel_path, status=307, headers={**_SHARED, "Cache-Control": "no-store"})
    raise ApiError(404, texts.STATUS_TEXTS[404])


_DEMO_STYLE = """
body{margin:0;font:17px/1.6 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1f;
 background:#fafafa}
main{max-width:560px;margin:0 0 0 6vw;padding:48px 24px}
h1{font-size:30px;margin:0 0 12px}
code,pre{font:14px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{padding:14px;overflow-x:auto;border-radius:8px;background:#1b1b1f;color:#f4f5f7;white-space:pre-wrap;
 word-break:break-all}
"""
#: Only this exact inline style is allowed (its hash); the widget's own styles are constructable stylesheets,
#: which a CSP does not block, so no 'unsafe-inline' is needed anywhere.
_STYLE_HASH = base64.b64encode(hashlib.sha256(_DEMO_STYLE.encode()).digest()).decode()
DEMO_CSP = (
    f"default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'sha256-{_STYLE_HASH}'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_DEMO_TEXTS = {
    "fr": (
        "Démo du widget",
        "Le bouton en bas à droite ouvre le chat. Pour le mettre sur votre site, collez cette ligne dans vos "
        "pages et ajoutez l'origine du site à WIDGET_ORIGINS :",
        "Cette page n'autorise que ce serveur pour ses scripts et ses connexions, sans 'unsafe-inline'.",
    ),
    "en": (
        "Widget demo",
        "The button at the bottom right opens the chat. To put it on your site, paste this line into your "
        "pages and add the site's origin to WIDGET_ORIGINS:",
        "This page allows only this server for its scripts and connections, without 'unsafe-inline'.",
    ),
}


@bp.get("/demo", ctx_public=True)
@openapi.exclude()
async def demo(request: Request) -> HTTPResponse:
    keys: tuple[str, ...] = request.app.ctx.settings.widget_keys
    if not keys:
        raise ApiError(404, texts.WIDGET_OFF)
    lang = "en" if request.args.get("lang") == "en" else "fr"
    title, intro, note = (html.escape(text) for text in _DEMO_TEXTS[lang])
    snippet = f'<script src="{own_origin(request)}/widget.js" data-key="{keys[0]}" defer></script>'
    page = f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_DEMO_STYLE}</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{intro}</p>
<pre><code>{html.escape(snippet)}</code></pre>
<p>{note}</p>
</main>
<script src="/widget.js" data-key="{html.escape(keys[0])}" defer></script>
</body>
</html>
"""
    headers = {
        "Content-Security-Policy": DEMO_CSP,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    return raw(page.encode(), content_type="text/html; charset=utf-8", headers=headers)
