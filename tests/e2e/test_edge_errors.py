"""What Nginx answers and logs by itself: JSON errors for every request it refuses, logs free of raw client
bytes and of keys sent in a query string, header limits that agree with the app's, slow clients cut."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.edge import Answer, connect, exchange, get, parse, read_all, wait_for_bytes

pytestmark = pytest.mark.timeout(600)

BAD_REQUEST = "Requête invalide."
TOO_LONG_URI = "Adresse (URI) trop longue."
TOO_LARGE_HEADERS = "En-têtes de requête trop volumineux."

#: Requests that Nginx refuses itself, what it must answer, and the French text.
REFUSED = {
    "dot-dot above the root": (b"GET /../x HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, BAD_REQUEST),
    "ESC in the request line": (b"GET /\x1b[31mred HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, BAD_REQUEST),
    "DEL in the request line": (b"GET /\x7f HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, BAD_REQUEST),
    "garbage request line": (b"\x16\x03\x01 hello\r\n\r\n", 400, BAD_REQUEST),
    "Host longer than a DNS name": (get("/healthz").replace(b"localhost", b"a" * 254), 400, BAD_REQUEST),
    "TRACE": (get("/", method="TRACE"), 405, "Méthode non autorisée pour cette ressource."),
    "CONNECT": (b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, BAD_REQUEST),
    "URI over the limit": (get("/" + "a" * 16_000), 414, TOO_LONG_URI),
    "one header line over the limit": (get("/healthz", "X-Big: " + "a" * 16_000), 431, TOO_LARGE_HEADERS),
    "headers over the limit": (
        get("/healthz", *(f"X-Big-{i}: {'a' * 4000}" for i in range(5))),
        431,
        TOO_LARGE_HEADERS,
    ),
    "body over the limit": (
        get("/chat", "Content-Length: 70000", method="POST"),
        413,
        "Requête trop volumineuse.",
    ),
    "unknown Transfer-Encoding": (
        get("/chat", "Transfer-Encoding: gzip", method="POST"),
        501,
        "Fonctionnalité non prise en charge par le serveur.",
    ),
    "HTTP/2.0 in an HTTP/1 request line": (
        b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n",
        505,
        "Version du protocole HTTP non prise en charge.",
    ),
    "Nginx's error page asked for directly": (get("/_edge/error/500"), 404, "Ressource introuvable."),
}


def _assert_nginx_json_error(answer: Answer, status: int, text: str, *, tls: bool = True) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"error": text}
    assert answer.headers["x-request-id"]
    if tls:
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_nginx_refuses_is_a_json_error_in_french(stack: Stack, case: str) -> None:
    request, status, text = REFUSED[case]
    _assert_nginx_json_error(exchange(stack.https_port, request, stack.ca_file), status, text)


def test_plain_http_port_answers_json_errors_too(stack: Stack) -> None:
    answer = exchange(stack.http_port, REFUSED["dot-dot above the root"][0], None)
    _assert_nginx_json_error(answer, 400, BAD_REQUEST, tls=False)


def test_client_bytes_never_reach_nginx_logs_raw(stack: Stack) -> None:
    container = f"{stack.project}-nginx-1"
    control = b"\x1b[31mred\x1b]0;title\x07\x7f\xc2\x9b2J"
    text = control.decode("latin-1")
    marker = f"e2e-raw-{secrets.token_hex(6)}"
    requests = [
        b"GET /" + control + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /%1b[31m%7f%c2%9b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /\xc2\x9b2J HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        # A body over the limit used to be logged at error level with the request line and the Referer.
        get("/chat", "Content-Length: 70000", f"Referer: https://x/{text}", method="POST"),
        get("/healthz", f"User-Agent: ua{text}", f"Referer: r{text}"),
        get("/healthz", f"X-Request-ID: {marker}", "User-Agent: only-esc\x1b[0m"),
    ]
    for request in requests:
        assert exchange(stack.https_port, request, stack.ca_file).status in (200, 400, 404, 413)
    logs = wait_for_bytes(container, marker.encode())
    line = next(line for line in logs.splitlines() if marker.encode() in line)
    # Below 0x20: escaped by the JSON log format, not dropped.
    assert json.loads(line)["httpRequest"]["userAgent"] == "only-esc\x1b[0m"
    for raw in (b"\x1b", b"\x07", b"\x7f", b"\xc2\x9b"):
        assert raw not in logs, f"{raw!r} written raw: {[x for x in logs.splitlines() if raw in x][:2]}"
    assert b"empty URI" not in logs


def test_a_key_in_the_query_string_is_redacted_from_nginx_log(stack: Stack) -> None:
    keys = [secrets.token_hex(8) for _ in range(4)]
    marker = f"e2e-redact-{secrets.token_hex(6)}"
    urls = {
        f"/chat?x-api-key={keys[0]}&lang=fr": "/chat?x-api-key=REDACTED&lang=fr",
        f"/healthz?api_key={keys[1]}": "/healthz?api_key=REDACTED",
        f"/healthz?a=1&Key={keys[2]}&monkey=b&key={keys[3]}": "/healthz?a=1&Key=REDACTED&monkey=b"
        "&key=REDACTED",
    }
    for i, url in enumerate(urls):
        exchange(stack.https_port, get(url, f"X-Request-ID: {marker}-{i}"), stack.ca_file)
    logs = wait_for_bytes(f"{stack.project}-nginx-1", f"{marker}-{len(urls) - 1}".encode())
    for key in keys:
        assert key.encode() not in logs
    lines = {r["request_id"]: r for r in stack.logs("nginx") if r.get("request_id", "").startswith(marker)}
    logged = [lines[f"{marker}-{i}"]["httpRequest"]["requestUrl"] for i in range(len(urls))]
    assert logged == [f"https://localhost{url}" for url in urls.values()]


def _largest_accepted(send: Callable[[int], Answer], low: int, high: int) -> int:
    """The largest size in [low, high) that the app answers 200 for (bisection to 32 bytes)."""
    assert send(low).status == 200
    while high - low > 32:
        middle = (low + high) // 2
        low, high = (middle, high) if send(middle).status == 200 else (low, middle)
    return low


def _refused_by_nginx(stack: Stack, request_id: str) -> bool:
    [line] = stack.wait_for_log("nginx", lambda r: r.get("request_id") == request_id)
    return bool(line["upstream"]["addr"] == "")


@pytest.mark.parametrize("where", ["headers", "request line"])
def test_nginx_refuses_before_the_app_would_for_size(stack: Stack, where: str) -> None:
    """Whatever Nginx lets through fits in what the app accepts (MAX_HEADER_BYTES, with what Nginx adds):
    the first size that is not answered 200 is refused by Nginx itself, never by the app."""
    run = secrets.token_hex(4)

    def send(size: int, request_id: str = "") -> Answer:
        rid = f"X-Request-ID: {request_id or f'e2e-size-{run}-{size}'}"
        if where == "headers":  # lines of 1,000 bytes, as cookies or tokens would come
            fill = [f"X-Fill-{i}: " + "a" * min(1000, size - i * 1000) for i in range(0, size // 1000 + 1)]
            return exchange(stack.https_port, get("/healthz", rid, *fill), stack.ca_file)
        return exchange(stack.https_port, get("/healthz?" + "q" * size, rid), stack.ca_file)

    largest = _largest_accepted(send, 1000, int(stack.settings["MAX_HEADER_BYTES"]) + 2000)
    print(f"largest {where} that Nginx lets through: {largest} bytes of filler")
    refused = send(largest + 32, f"e2e-size-{run}-refused")
    # (A request line over the limit is refused before its X-Request-ID is read: Nginx made up the id.)
    assert _refused_by_nginx(stack, refused.headers["x-request-id"]), f"the app refused first: {refused}"
    assert refused.status == (431 if where == "headers" else 414), refused
    if where == "headers":  # and not far below the app's limit: the margin is what proxying may add
        assert largest > int(stack.settings["MAX_HEADER_BYTES"]) * 3 // 4


def test_a_client_silent_mid_handshake_headers_or_body_is_cut_after_about_10_s(stack: Stack) -> None:
    stalls = {
        "handshake": b"",  # TCP open, no TLS ClientHello
        "headers": b"POST /chat HTTP/1.1\r\nHost: localhost\r\nContent-Ty",
        "body": get("/chat", "Content-Length: 100", method="POST") + b'{"message": ',
    }
    outcome: dict[str, tuple[float, bytes]] = {}

    def stall(name: str, sent: bytes) -> None:
        started = time.monotonic()
        with connect(stack.https_port, None if name == "handshake" else stack.ca_file, timeout=30) as sock:
            sock.sendall(sent)
            try:
                data = read_all(sock)
            except OSError as error:  # a TLS close without close_notify, or the timeout
                data = repr(error).encode()
        outcome[name] = (time.monotonic() - started, data)

    threads = [threading.Thread(target=stall, args=item) for item in stalls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    for name, (elapsed, data) in outcome.items():
        assert 8 < elapsed < 20, (name, elapsed, data[:200])
        # Nginx drops such a connection without an answer; if it ever answers, it is the JSON 408.
        if data.startswith(b"HTTP/"):
            _assert_nginx_json_error(parse(data), 408, "Délai de réception de la requête dépassé.")
    assert set(outcome) == set(stalls)
