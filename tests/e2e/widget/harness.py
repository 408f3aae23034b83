"""The widget's browser tests: pages that embed it, served from other local origins than the stack's; the
Shopify app embed rendered by liquidjs into a storefront-like page; and one Chromium run (browser.mjs) over
every scenario, shared by tests/e2e/test_widget.py and test_shopify.py through the `widget_run` fixture
(imported by tests/e2e/conftest.py). What the server side saw (the fake model's streams, the records shipped
to the fake Cloud Logging) is read right after the run, before other tests reset those fakes.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx
import pytest

from tests.processes import free_port

if TYPE_CHECKING:
    from tests.e2e.conftest import Stack

ROOT = Path(__file__).resolve().parents[3]
HARNESS = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
EXTENSION = ROOT / "plugins" / "shopify" / "extensions" / "chatbot-widget"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: The guide's French texts, as the panel shows them.
FRENCH = {"title": "FAQ Intelligent", "placeholder": "Posez une question...", "send": "Envoyer"}


@dataclass(frozen=True)
class Page:
    body: str
    headers: tuple[tuple[str, str], ...] = ()


class _Handler(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, Page]] = {}

    def do_GET(self) -> None:
        page = self.pages.get(urlsplit(self.path).path)
        if page is None:
            self.send_error(404)
            return
        body = page.body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in page.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(origin: str, pages: dict[str, Page]) -> Iterator[str]:
    """Serves `pages` (path -> page) on the loopback port of `origin` (http://127.0.0.1:<port>)."""
    handler = type("Pages", (_Handler,), {"pages": pages})
    server = ThreadingHTTPServer(("127.0.0.1", int(urlsplit(origin).port or 80)), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()


def host_page(title: str, script: str, lang: str = "en") -> str:
    """A plain page of another site, with the widget's tag (or the rendered Shopify block) before </body>."""
    return f"""<!doctype html>
<html lang="{lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title></head>
<body>
<header><p>Example shop</p></header>
<main><h1>{html.escape(title)}</h1><p>Products, prices and a chat button in the corner.</p></main>
{script}
</body>
</html>
"""


def widget_tag(stack: Stack) -> str:
    return f'<script src="{stack.https_url}/widget.js" data-key="{stack.widget_key}" defer></script>'


def strict_csp(stack: Stack) -> str:
    """Only the chatbot's host for scripts and connections; nothing inline, no other source of anything."""
    return (
        f"default-src 'none'; script-src {stack.https_url}; connect-src {stack.https_url}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def node(*args: str) -> Any:
    proc = subprocess.run(["node", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"node {args[0]} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout)


def theme_check(extension: Path = EXTENSION) -> list[dict[str, Any]]:
    """Shopify's Theme Check with its theme-app-extension config: severity 0 error, 1 warning, 2 info."""
    offenses: list[dict[str, Any]] = node(str(HARNESS / "shopify.mjs"), "check", str(extension))
    return offenses


def render_block(settings: dict[str, str], locale: str) -> str:
    context = json.dumps({"settings": settings, "locale": locale})
    rendered: dict[str, str] = node(str(HARNESS / "shopify.mjs"), "render", str(EXTENSION), context)
    return rendered["html"]


def shopify_settings(stack: Stack) -> dict[str, str]:
    """The app embed's settings as a merchant fills them in the theme editor."""
    return {
        "host": f"{stack.https_url}/",
        "key": stack.widget_key,
        "language": "auto",
        "title": "",
        "color": "#008060",
        "position": "left",
    }


def run_browser(scenarios: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    out = workdir / f"browser-{time.monotonic_ns()}.json"
    payload = {"scenarios": scenarios, "out": str(out), "axePath": str(AXE), "executablePath": str(CHROMIUM)}
    proc = subprocess.run(
        ["node", str(HARNESS / "browser.mjs"), json.dumps(payload)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"browser.mjs exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    results: dict[str, Any] = json.loads(out.read_text())
    return results


@dataclass(frozen=True)
class WidgetRun:
    """What the browser saw in each scenario (browser.mjs), where the pages were, and what the fakes saw."""

    results: dict[str, Any]
    site: str
    shop: str
    unlisted: str
    streams: list[dict[str, Any]]
    cloud_entries: list[dict[str, Any]]

    def __getitem__(self, scenario: str) -> dict[str, Any]:
        result: dict[str, Any] = self.results[scenario]
        assert "error" not in result, result["error"]
        return result

    def responses(self, scenario: str, path: str, method: str = "POST") -> list[dict[str, Any]]:
        """The responses of one scenario to `method` on the chatbot's `path`, in order."""
        return [
            r
            for r in self[scenario]["responses"]
            if r["method"] == method and urlsplit(r["url"]).path.startswith(path)
        ]


def _scenarios(stack: Stack, site: str, shop: str, unlisted: str) -> list[dict[str, Any]]:
    shots = {name: str(ARTIFACTS / f"widget-{name}.png") for name in ("desktop", "phone")}
    return [
        {"name": "conversation", "flow": "conversation", "url": f"{site}/"},
        {"name": "phone", "flow": "phone", "url": f"{site}/fr", "phone": True, "screenshot": shots["phone"]},
        {"name": "states", "flow": "states", "url": f"{site}/"},
        {"name": "refused", "flow": "refused", "url": f"{unlisted}/"},
        {"name": "csp", "flow": "short", "url": f"{site}/csp", "controlViolation": True},
        {"name": "shopify", "flow": "short", "url": f"{shop}/"},
        {
            "name": "demo",
            "flow": "short",
            "url": f"{stack.https_url}/demo",
            "screenshot": shots["desktop"],
            "question": "Comment suivre ma commande ? https://example.com/suivi",
        },
    ]


def _feedback_entries(stack: Stack, request_ids: set[str], timeout: float = 15) -> list[dict[str, Any]]:
    """The records shipped to the fake Cloud Logging for these requests (shipping is batched: waits)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.cloud_logging_url, timeout=10) as api:
        while True:
            entries = [
                e
                for e in api.get("/_fake/entries").json()
                if e.get("labels", {}).get("request_id") in request_ids
                and e.get("jsonPayload", {}).get("rating")
            ]
            if len(entries) >= len(request_ids) or time.monotonic() > deadline:
                return entries
            time.sleep(0.5)


@pytest.fixture(scope="session")
def widget_run(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> WidgetRun:
    missing = [str(p) for p in (CHROMIUM, AXE, ROOT / "node_modules" / "playwright-core") if not p.exists()]
    assert shutil.which("node"), "node is missing: run `make deps`"
    assert not missing, f"missing {missing}: run `make deps`"
    site, shop = stack.widget_origins[:2]
    unlisted = f"http://127.0.0.1:{free_port()}"
    csp = (("Content-Security-Policy", strict_csp(stack)),)
    site_pages = {
        "/": Page(host_page("A shop", widget_tag(stack))),
        "/fr": Page(host_page("Une boutique", widget_tag(stack), lang="fr")),
        "/csp": Page(host_page("A strict shop", widget_tag(stack)), csp),
    }
    shop_page = host_page("Boutique", render_block(shopify_settings(stack), "fr"), lang="fr")
    ARTIFACTS.mkdir(exist_ok=True)
    with ExitStack() as servers:
        servers.enter_context(serving(site, site_pages))
        servers.enter_context(serving(shop, {"/": Page(shop_page)}))
        servers.enter_context(serving(unlisted, {"/": Page(host_page("Not listed", widget_tag(stack)))}))
        results = run_browser(_scenarios(stack, site, shop, unlisted), tmp_path_factory.mktemp("widget"))
    (ARTIFACTS / "widget-browser.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    for name, result in results.items():
        if "firstAttempt" in result:
            first = result["firstAttempt"]
            warnings.warn(
                f"widget scenario {name!r} needed a second attempt: {first['error'][:300]} "
                f"(console: {first['console'][-3:]})",
                stacklevel=1,
            )
    timings = {name: results[name].get("ask", {}).get("first") for name in ("conversation", "phone", "demo")}
    timings["conversation_after_new"] = results["conversation"].get("afterNewAsk", {}).get("first")
    (ARTIFACTS / "widget-timings.json").write_text(json.dumps(timings), encoding="utf-8")
    streams = httpx.get(f"{stack.fake_openai_url}/_fake/streams", timeout=10).json()
    feedback_ids = {
        r["headers"].get("x-request-id", "")
        for scenario in results.values()
        for r in scenario.get("responses", [])
        if r["method"] == "POST" and r["url"].endswith("/feedback")
    }
    return WidgetRun(results, site, shop, unlisted, streams, _feedback_entries(stack, feedback_ids))
