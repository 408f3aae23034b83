"""Hardening of the app itself: probes answer HEAD, keys are read strictly and never logged, malformed text
and deep nesting are refused cleanly, the API docs load nothing from elsewhere, silent clients are cut off."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.conftest import API_KEY
from tests.integration.helpers import is_access, mark, raw_post, settle, wait_for_records
from tests.processes import Process

HEADERS = {"x-api-key": API_KEY, "content-type": "application/json"}
INVALID_TEXT = "Le texte envoyé n'est pas valide (caractères Unicode isolés ou interdits)."
TOO_DEEP = "Le corps de la requête est imbriqué trop profondément."


class HalfRequest:
    """A client that sends half of its headers and then says nothing: when does the service hang up?

    Started with the module, so that its ~10 s wait overlaps the other tests instead of adding to the run.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=20)
        self.sock.sendall(b"POST /chat HTTP/1.1\r\nHost: localhost\r\nx-api-")
        self.started = time.monotonic()
        self.closed_after: float | None = None
        self.answer = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := self.sock.recv(4096):
                self.answer += chunk
        except OSError:
            pass
        self.closed_after = time.monotonic() - self.started
        self.sock.close()

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)


@pytest.fixture(scope="module", autouse=True)
def half_request(svc: tuple[str, Process]) -> Iterator[HalfRequest]:
    client = HalfRequest(svc[0])
    yield client
    client.sock.close()


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz"])
def test_probes_answer_head_like_get_without_a_key(base_url: str, path: str) -> None:
    head = httpx.head(base_url + path)
    get = httpx.get(base_url + path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


@pytest.mark.parametrize("padding", [b" ", b"\t", b" \t "], ids=["space", "tab", "both"])
def test_whitespace_around_the_key_is_not_part_of_it(base_url: str, padding: bytes) -> None:
    # httpx refuses to send such a header: it goes out as raw bytes, as a hand-written client would send it.
    headers = b"x-api-key: " + API_KEY.encode() + padding + b"\r\nContent-Type: application/json\r\n"
    response = raw_post(base_url, b'{"message": "hi"}', headers)
    assert response.status == 200, response.body
    assert response.json()["reply"] == "Echo: hi"


@pytest.mark.parametrize("name", ["x-api-key", "api_key", "key"])
def test_a_key_in_the_query_string_is_refused_and_never_logged(
    base_url: str, proc: Process, name: str
) -> None:
    since = mark(proc)
    rid = f"query-key-{name}"
    response = httpx.post(
        f"{base_url}/chat?{name}={API_KEY}&lang=fr",
        json={"message": "hi"},
        headers={"x-request-id": rid},
    )
    assert response.status_code == 401
    assert response.json() == {"error": "Clé API invalide ou manquante."}
    (access,) = wait_for_records(proc, is_access(rid), since=since)
    assert access["httpRequest"]["requestUrl"] == f"/chat?{name}=REDACTED&lang=fr"
    settle(base_url, proc)
    leaked = [line for line in proc.lines[since:] if API_KEY in line]
    assert not leaked, leaked


@pytest.mark.parametrize(
    "body",
    [b'{"message": "\\ud800"}', b'{"message": "fin \\udfff"}', b'{"message": "a\\udc00\\ud800b"}'],
    ids=["high", "low", "reversed-pair"],
)
def test_lone_surrogates_are_refused_with_400(base_url: str, proc: Process, body: bytes) -> None:
    since = mark(proc)
    response = httpx.post(base_url + "/chat", content=body, headers=HEADERS)
    assert response.status_code == 400
    assert response.json() == {"error": INVALID_TEXT}
    assert_no_fault_logged(base_url, proc, since)


@pytest.mark.parametrize(
    "body",
    [
        b'{"message": "x", "a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
        b'{"message": "x", "a": ' + b'{"a": ' * 8_000 + b"1" + b"}" * 8_000 + b"}",
        b"[" * 30_000,
    ],
    ids=["arrays", "objects", "unclosed"],
)
def test_deep_nesting_within_the_size_limit_is_refused_with_400(
    base_url: str, proc: Process, body: bytes
) -> None:
    assert len(body) < 64 * 1024  # within MAX_BODY_BYTES: the parser, not the size limit, must refuse it
    since = mark(proc)
    response = httpx.post(base_url + "/chat", content=body, headers=HEADERS)
    assert response.status_code == 400
    assert response.json() == {"error": TOO_DEEP}
    assert_no_fault_logged(base_url, proc, since)


def assert_no_fault_logged(url: str, proc: Process, since: int) -> None:
    records = settle(url, proc, since)
    assert not [r for r in records if r["severity"] in ("ERROR", "CRITICAL") or "exc_info" in r]
    assert not [line for line in proc.lines[since:] if "Traceback" in line]


def test_api_docs_load_nothing_from_another_origin(base_url: str) -> None:
    page = httpx.get(base_url + "/api-docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    # Every reference is to this origin: no http(s):// and no protocol-relative //host.
    assert not re.search(r"(?i)(https?:)?//", page.text), page.text
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/api-docs/init.js", "/api-docs/assets/swagger-ui-bundle.js"} <= set(references)
    expected = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    for reference in references:
        asset = httpx.get(base_url + reference)
        assert asset.status_code == 200, reference
        kind = next(v for k, v in expected.items() if reference.endswith(k))
        assert kind in asset.headers["content-type"], (reference, asset.headers["content-type"])
    init = httpx.get(base_url + "/api-docs/init.js").text
    assert not re.search(r"(?i)(https?:)?//", init)
    assert httpx.get(base_url + "/api-docs/openapi.json").status_code == 200


def test_only_the_packaged_assets_are_served(base_url: str) -> None:
    for name in ("../../../../etc/passwd", "package.json", "index.html", "%2e%2e%2fapp.py"):
        assert httpx.get(f"{base_url}/api-docs/assets/{name}").status_code == 404, name


def test_a_client_silent_in_the_middle_of_its_headers_is_cut_off(half_request: HalfRequest) -> None:
    half_request.wait(timeout=15 - (time.monotonic() - half_request.started))
    assert half_request.closed_after is not None, "the connection was still open after 15 s"
    assert 9 < half_request.closed_after < 12.5  # REQUEST_TIMEOUT is 10 s
    assert half_request.answer.startswith(b"HTTP/1.1 408"), half_request.answer
