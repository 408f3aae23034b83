"""The widget's files and demo page as the service serves them (chatbot/routes/assets.py), and the same-origin
rule that lets the demo page read its own transcript."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatbot import texts
from tests.integration.conftest import service_env
from tests.processes import service

WIDGET_KEY = "pk_integration_0123456789"
DEMO_HOST = "chat.example"  # the Host the test sends: the service's "own origin" is then http://chat.example
TRUSTED = "https://trusted.example"  # a CORS_ORIGINS page: its CORS fields join the files' own
WIDGET = Path(__file__).resolve().parents[2] / "widget"


@pytest.fixture(scope="module")
def widget_url(upstream: str) -> Iterator[str]:
    origins = f"http://{DEMO_HOST},https://shop.example"
    env = service_env(upstream, WIDGET_KEY=WIDGET_KEY, WIDGET_ORIGINS=origins, CORS_ORIGINS=TRUSTED)
    with service(env) as (url, _):
        yield url


def test_the_loader_names_the_current_panel_and_revalidates(widget_url: str) -> None:
    loader = httpx.get(f"{widget_url}/widget.js", headers={"Accept-Encoding": "identity"})
    assert loader.status_code == 200
    assert "__PANEL_PATH__" not in loader.text
    [path] = re.findall(r"/widget/[0-9a-f]{16}/panel\.js", loader.text)
    assert loader.text == (WIDGET / "loader.js").read_text().replace("__PANEL_PATH__", path)
    assert loader.headers["cache-control"] == "public, max-age=300"
    revalidate = {"If-None-Match": loader.headers["etag"], "Accept-Encoding": "identity"}
    assert httpx.get(f"{widget_url}/widget.js", headers=revalidate).status_code == 304
    zipped = httpx.get(f"{widget_url}/widget.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] != loader.headers["etag"]  # another representation, another tag
    assert zipped.text == loader.text
    panel = httpx.get(widget_url + path)
    assert panel.text == (WIDGET / "panel.js").read_text()
    assert panel.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert len(gzip.compress(loader.content)) < 10_000
    from_trusted = httpx.get(widget_url + path, headers={"Origin": TRUSTED})
    assert from_trusted.headers["vary"] == "Accept-Encoding, Origin"


def test_the_demo_page_carries_the_publishable_key_under_a_strict_csp(widget_url: str) -> None:
    page = httpx.get(f"{widget_url}/demo", headers={"Host": DEMO_HOST})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert f'<script src="/widget.js" data-key="{WIDGET_KEY}" defer></script>' in page.text
    assert f"http://{DEMO_HOST}/widget.js" in page.text  # the snippet to copy names this host
    assert '<html lang="en">' in httpx.get(f"{widget_url}/demo?lang=en").text


def test_without_a_publishable_key_there_is_no_demo(base_url: str) -> None:
    page = httpx.get(f"{base_url}/demo")
    assert (page.status_code, page.json()) == (404, {"error": texts.WIDGET_OFF})


def _token(url: str, origin: str) -> str:
    response = httpx.post(f"{url}/widget/session", json={"key": WIDGET_KEY}, headers={"Origin": origin})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # A same-origin GET carries no Origin; the browser's Sec-Fetch-Site says where the page is.
        ({"Host": DEMO_HOST, "Sec-Fetch-Site": "same-origin"}, 404),  # past auth: no such conversation
        ({"Host": DEMO_HOST}, 403),
        ({"Host": "other.example", "Sec-Fetch-Site": "same-origin"}, 403),
        ({"Host": DEMO_HOST, "Sec-Fetch-Site": "same-origin", "Origin": "https://shop.example"}, 403),
    ],
)
def test_a_token_of_this_host_reads_without_origin_only_from_a_same_origin_page(
    widget_url: str, headers: dict[str, str], status: int
) -> None:
    token = _token(widget_url, f"http://{DEMO_HOST}")
    response = httpx.get(
        f"{widget_url}/conversations/abc", headers={**headers, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == status, response.text
