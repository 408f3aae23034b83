"""Nginx with settings of its own (a second Nginx from the stack's image, on the stack's network): requests in
flight per address, redirects to the public host, 1,000 streams held at once, settings checked at start."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.edge import (
    connect,
    count_answered,
    exchange,
    extra_nginx,
    get,
    held_bodies,
    memory_mib,
    nginx_image,
    open_streams,
    parse,
    raise_open_files_limit,
    read_answer,
)

pytestmark = pytest.mark.timeout(600)

TOO_MANY = {"error": "Trop de requêtes simultanées depuis cette adresse, réessayez dans un instant."}
#: Held through Nginx at once, each with its own client and upstream connection (the streaming target).
STREAMS = 1000


def test_requests_in_flight_per_address_are_limited_with_a_json_429(stack: Stack) -> None:
    with extra_nginx(stack, EDGE_MAX_CONNS_PER_IP="4") as edge:
        # Kept-alive connections between requests are not requests in flight: they do not count.
        idle = [connect(edge.https_port, stack.ca_file) for _ in range(6)]
        try:
            for sock in idle:
                sock.sendall(get("/healthz", close=False))
                assert parse(read_answer(sock)).status == 200
            assert exchange(edge.https_port, get("/healthz"), stack.ca_file).status == 200
        finally:
            for sock in idle:
                sock.close()
        with held_bodies(edge.https_port, stack.ca_file, 4) as held:
            started = time.monotonic()
            refused = exchange(edge.https_port, get("/healthz", "X-Request-ID: e2e-429"), stack.ca_file)
            assert time.monotonic() - started < 2  # at once, not after a wait
            assert refused.status == 429
            assert refused.json() == TOO_MANY
            assert refused.headers["content-type"] == "application/json"
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.headers["x-request-id"] == "e2e-429"
            assert refused.headers["strict-transport-security"].startswith("max-age=")
            held.pop().close()
            deadline = time.monotonic() + 5  # Nginx frees the slot once it has seen the close
            while (status := exchange(edge.https_port, get("/healthz"), stack.ca_file).status) == 429:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert status == 200


@pytest.mark.parametrize(
    ("env", "public"),
    [
        ({"CERT_HOSTS": "chatbot.e2e.test,192.0.2.10"}, "chatbot.e2e.test"),
        ({"CERT_HOSTS": "192.0.2.10", "DOMAIN": "chat.e2e.test"}, "chat.e2e.test"),
        ({"CERT_HOSTS": "2001:db8::10"}, "[2001:db8::10]"),
    ],
)
def test_redirects_go_to_the_public_host_not_the_one_the_client_sent(
    stack: Stack, env: dict[str, str], public: str
) -> None:
    with extra_nginx(stack, **env) as edge:
        port_80 = httpx.get(
            f"http://127.0.0.1:{edge.http_port}/chat?x=1", headers={"Host": "evil.example"}, timeout=10
        )
        https_port = httpx.get(
            f"http://127.0.0.1:{edge.https_port}/healthz", headers={"Host": "evil.example"}, timeout=10
        )
    assert port_80.status_code == https_port.status_code == 301
    assert port_80.headers["location"] == f"https://{public}:{edge.https_port}/chat?x=1"
    assert https_port.headers["location"] == f"https://{public}:{edge.https_port}/healthz"


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"MAX_HEADER_BYTES": "1024"}, "MAX_HEADER_BYTES must be at least 4096"),
        ({"MAX_HEADER_BYTES": "16k"}, "MAX_HEADER_BYTES must be a number of bytes"),
        ({"EDGE_MAX_CONNS_PER_IP": "0"}, "EDGE_MAX_CONNS_PER_IP must be a whole number above 0"),
        ({"DOMAIN": "https://chat.example.com"}, "is not a host name or IP address"),
        ({"CERT_HOSTS": "chat.example.com:8443"}, "no port here"),
        ({"EDGE_LOG_MAX_BYTES": "10M"}, "EDGE_LOG_MAX_BYTES must be a number of bytes"),
    ],
)
def test_a_bad_setting_stops_nginx_at_start_with_one_line_naming_it(
    stack: Stack, env: dict[str, str], said: str
) -> None:
    args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    run = subprocess.run(
        ["docker", "run", "--rm", *args, nginx_image(stack)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert said in run.stderr


def test_nginx_holds_1000_streams_at_once(stack: Stack, fake_openai: httpx.Client) -> None:
    """Each held request has a client and an upstream connection (the fake OpenAI holds `#fault:slow` ones),
    as streamed replies will; meanwhile a new request is still served."""
    raise_open_files_limit(STREAMS + 256)
    body = b'{"model": "m", "messages": [{"role": "user", "content": "#fault:slow hold"}]}'
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {stack.upstream_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    upstream = {"UPSTREAM": "fake-openai:8081", "EDGE_MAX_CONNS_PER_IP": str(STREAMS * 2)}

    def reached_upstream() -> int:
        return len(fake_openai.get("/_fake/requests").json())

    with extra_nginx(stack, **upstream) as edge:

        async def hold() -> tuple[int, float]:
            streams = await open_streams(edge.https_port, stack.ca_file, request, STREAMS)
            try:
                deadline = time.monotonic() + 60
                while await asyncio.to_thread(reached_upstream) < STREAMS:
                    assert time.monotonic() < deadline, "not every request reached the upstream"
                    await asyncio.sleep(0.5)
                answered = await count_answered([reader for reader, _ in streams])
                fresh = exchange(edge.https_port, get("/_fake/health"), stack.ca_file)
                assert fresh.status == 200
                return answered, memory_mib(edge.name)
            finally:
                for _, writer in streams:
                    writer.close()

        answered, memory = asyncio.run(hold())
    print(f"nginx held {STREAMS} streams with {memory:.1f} MiB")
    assert answered == 0  # none was cut or answered early
