"""A sweep of hostile requests: whatever a client sends, the answer is a 200 or a JSON `{"error"}` 4xx that
does not claim a server fault, and the service logs no error, no traceback, and only UTF-8 JSON lines."""

from __future__ import annotations

import pytest

from tests.integration.conftest import API_KEY
from tests.integration.helpers import mark, raw_request, settle
from tests.processes import Process

KEY = API_KEY.encode()
JSON = b"Content-Type: application/json\r\n"
AUTH = b"x-api-key: " + KEY + b"\r\n"
SERVER_FAULT = "Erreur interne du serveur."


def post(body: bytes, headers: bytes = AUTH + JSON, *, path: bytes = b"/chat") -> bytes:
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        + headers
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def get(path: bytes, headers: bytes = AUTH) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + headers + b"\r\n"


def case(name: str, request: bytes, status: int | None = None) -> object:
    return pytest.param(request, status, id=name)


ENCODINGS = [
    case("utf-16-bom", post('{"message": "bonjour"}'.encode("utf-16"))),
    case("utf-16-le", post('{"message": "bonjour"}'.encode("utf-16-le"))),
    case("utf-32", post('{"message": "bonjour"}'.encode("utf-32"))),
    case("utf-8-bom", post(b'\xef\xbb\xbf{"message": "bonjour"}')),
    case("latin-1", post('{"message": "café crème"}'.encode("latin-1")), 400),
    case("invalid-utf-8", post(b'{"message": "\xc3\x28 \xff\xfe"}'), 400),
    case("overlong-utf-8", post(b'{"message": "\xc0\xaf"}'), 400),
    case("encoded-surrogate", post(b'{"message": "\xed\xa0\x80"}'), 400),
]
NESTING = [
    case("deep-arrays", post(b'{"message": "x", "a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"), 400),
    case(
        "deep-objects", post(b'{"message": "x", "a": ' + b'{"a": ' * 8_000 + b"1" + b"}" * 8_000 + b"}"), 400
    ),
    case("deep-message", post(b'{"message": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"), 400),
]
NUMBERS = [
    case("1e99999", post(b'{"message": "x", "n": 1e99999}')),
    case("-1e99999", post(b'{"message": "x", "n": -1e99999}')),
    case("5000-digit-int", post(b'{"message": "x", "n": 1' + b"0" * 5_000 + b"}"), 400),
    case("5000-digit-float", post(b'{"message": "x", "n": 1' + b"0" * 5_000 + b".5}")),
    case("nan", post(b'{"message": "x", "n": NaN, "m": -Infinity}')),
    case("message-number", post(b'{"message": 1e99999}'), 400),
]
TEXT = [
    case("nul-in-message", post(b'{"message": "a\\u0000b"}')),
    case("controls-in-message", post(b'{"message": "\\u0007\\u001b[31mrouge\\u007f\\u0085"}')),
    case("only-controls", post(b'{"message": "\\u0000\\u0000"}')),
    case("bidi-and-zero-width", post('{"message": "\u202e\u200b\ufeffabc"}'.encode())),
    case("nul-in-key", post(b'{"mess\\u0000age": "x"}'), 400),
    case("surrogate-in-key", post(b'{"\\ud800": "x", "message": "ok"}')),
    case("raw-nul-byte", post(b'{"message": "a\x00b"}'), 400),
]
TYPES = [
    *(
        case(f"message-{name}", post(b'{"message": ' + value + b"}"), 400)
        for name, value in [("true", b"true"), ("object", b"{}"), ("list", b'["a"]'), ("int", b"42")]
    ),
    *(
        case(f"conversation-{name}", post(b'{"message": "x", "conversation_id": ' + value + b"}"), 400)
        for name, value in [("int", b"5"), ("list", b"[]"), ("object", b"{}"), ("bool", b"true")]
    ),
    *(
        case(f"stream-{name}", post(b'{"message": "x", "stream": ' + value + b"}"), 400)
        for name, value in [("string", b'"yes"'), ("int", b"1"), ("null", b"null"), ("list", b"[true]")]
    ),
    case("conversation-unknown", post(b'{"message": "x", "conversation_id": "../../etc/passwd"}')),
    case("conversation-huge", post(b'{"message": "x", "conversation_id": "' + b"a" * 60_000 + b'"}')),
    case("duplicate-last-wins", post(b'{"message": "a", "message": 5}'), 400),
    case("duplicate-string-last", post(b'{"message": 5, "message": "a"}')),
]
SHAPES = [
    case("empty", post(b""), 400),
    case("whitespace", post(b" \r\n\t "), 400),
    case("null", post(b"null"), 400),
    case("array", post(b"[]"), 400),
    case("number", post(b"0"), 400),
    case("truncated", post(b'{"message": "x"'), 400),
    case("trailing-garbage", post(b'{"message": "x"} {}'), 400),
    case("single-quotes", post(b"{'message': 'x'}"), 400),
    case(
        "form-body", post(b"message=hi", AUTH + b"Content-Type: application/x-www-form-urlencoded\r\n"), 400
    ),
    case("json-as-text-plain", post(b'{"message": "hi"}', AUTH + b"Content-Type: text/plain\r\n")),
    case("json-as-multipart", post(b'{"message": "hi"}', AUTH + b"Content-Type: multipart/form-data\r\n")),
    case("no-content-type", post(b'{"message": "hi"}', AUTH)),
    case(
        "charset-lie",
        post('{"message": "é"}'.encode(), AUTH + b"Content-Type: application/json; charset=latin-1\r\n"),
    ),
    case(
        "bad-chunked",
        b"POST /chat HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    case("two-lengths", post(b'{"message": "x"}', AUTH + JSON + b"Content-Length: 3\r\n"), 400),
    case(
        "negative-length", b"POST /chat HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length: -1\r\n\r\n", 400
    ),
]
HEADERS = [
    case("key-with-control", post(b'{"message": "x"}', b"x-api-key: " + KEY + b"\x01\r\n" + JSON), 401),
    case("key-with-nul", post(b'{"message": "x"}', b"x-api-key: \x00" + KEY + b"\r\n" + JSON), 401),
    case("key-latin-1", post(b'{"message": "x"}', b"x-api-key: cl\xe9\r\n" + JSON), 401),
    case("key-twice", post(b'{"message": "x"}', AUTH + b"x-api-key: wrong\r\n" + JSON)),
    case("request-id-nul", post(b'{"message": "x"}', AUTH + JSON + b"x-request-id: ab\x00cd\r\n")),
    case("request-id-latin-1", post(b'{"message": "x"}', AUTH + JSON + b"x-request-id: caf\xe9\r\n")),
    case("user-agent-latin-1", post(b'{"message": "x"}', AUTH + JSON + b"User-Agent: caf\xe9 \xff\r\n")),
    case(
        "user-agent-controls", post(b'{"message": "x"}', AUTH + JSON + b"User-Agent: a\x00b\x1b[2J\x7f\r\n")
    ),
    case(
        "authorization-junk",
        post(b'{"message": "x"}', AUTH + JSON + b"Authorization: Bearer \xff\x00\r\n"),
        401,
    ),
    case("origin-junk", post(b'{"message": "x"}', AUTH + JSON + b"Origin: \xff\x00\r\n")),
    case("header-without-colon", post(b'{"message": "x"}', AUTH + JSON + b"X-Broken\r\n"), 400),
    case("folded-header", post(b'{"message": "x"}', AUTH + JSON + b"X-A: a\r\n folded\r\n"), 400),
    case(
        "oversized-header",
        post(b'{"message": "x"}', AUTH + JSON + b"X-Junk: " + b"a" * 17_000 + b"\r\n"),
        431,
    ),
    case("many-headers", post(b'{"message": "x"}', AUTH + JSON + b"X-A: b\r\n" * 2_500), 431),
    case("expect-unknown", post(b'{"message": "x"}', AUTH + JSON + b"Expect: bogus\r\n"), 417),
]
PATHS = [
    case("path-latin-1", get(b"/caf\xe9?x=\xff"), 400),
    case("path-percent-ff", get(b"/%ff%fe"), 404),
    case("conversation-percent-ff", get(b"/conversations/%ff%fe%00"), 404),
    case("unknown-version", get(b"/healthz").replace(b"HTTP/1.1", b"HTTP/9.9"), 400),
    case("nul-in-method", get(b"/healthz").replace(b"GET", b"G\x00T")),
    case("query-junk", get(b"/healthz?\xff\x00=%00&&&==")),
]


@pytest.mark.parametrize(
    ("request_bytes", "status"), [*ENCODINGS, *NESTING, *NUMBERS, *TEXT, *TYPES, *SHAPES, *HEADERS, *PATHS]
)
def test_hostile_requests_get_a_clean_answer_and_leave_clean_logs(
    base_url: str, proc: Process, request_bytes: bytes, status: int | None
) -> None:
    since = mark(proc)
    response = raw_request(base_url, request_bytes)
    assert response.status < 500, response.body
    if status is not None:
        assert response.status == status, response.body
    if response.status != 200:
        assert response.headers["content-type"] == "application/json", response.headers
        body = response.json()
        assert list(body) == ["error"], body
        assert body["error"] != SERVER_FAULT  # a client's mistake is not told as the server's
    records = settle(base_url, proc, since)  # also fails on a line that is not UTF-8 JSON
    faults = [r for r in records if r["severity"] in ("ERROR", "CRITICAL") or "exc_info" in r]
    assert not faults, faults
    assert not [line for line in proc.lines[since:] if "Traceback" in line]
