"""Harness for the edge tests (test_edge_*.py): raw HTTP/1.1 over TLS, a second Nginx with other settings,
requests held open at Nginx, and the raw bytes of a container's logs."""

from __future__ import annotations

import asyncio
import json
import resource
import secrets
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.conftest import Stack
from tests.processes import free_ports


@dataclass
class Answer:
    """What came back on a raw connection: nothing (`status` None) or one HTTP/1.1 response."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> object:
        return json.loads(self.body)


def tls_context(ca_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False  # the tests send whatever Host they need; the chain is still checked
    return context


def connect(port: int, ca_file: Path | None, timeout: float = 15) -> socket.socket:
    """A connection to 127.0.0.1:port, over TLS when ca_file is given."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if ca_file is None:
        return raw
    try:
        return tls_context(ca_file).wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def parse(data: bytes) -> Answer:
    if not data:
        return Answer(None)
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset counts as a close)."""
    data = b""
    with suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def read_answer(sock: socket.socket) -> bytes:
    """One answer: up to the end of its Content-Length body, else until the server closes."""
    data = b""
    with suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
            head, found, body = data.partition(b"\r\n\r\n")
            length = parse(head + found).headers.get("content-length") if found else None
            if length is not None and len(body) >= int(length):
                break
    return data


def exchange(port: int, request: bytes, ca_file: Path | None, timeout: float = 15) -> Answer:
    """Sends raw request bytes and parses the answer (without waiting for a lingering close)."""
    with connect(port, ca_file, timeout) as sock:
        sock.sendall(request)
        return parse(read_answer(sock))


def get(path: str, *headers: str, method: str = "GET", close: bool = True) -> bytes:
    """A well-formed HTTP/1.1 request for localhost, closing the connection after the answer unless told."""
    ending = ["Connection: close", "", ""] if close else ["", ""]
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *headers, *ending]
    return "\r\n".join(lines).encode("latin-1")


def container_logs(name: str) -> bytes:
    """The container's stdout and stderr as raw bytes, as an operator's terminal would get them."""
    out = subprocess.run(["docker", "logs", name], capture_output=True, check=True, timeout=60)
    return out.stdout + out.stderr


def wait_for_bytes(name: str, needle: bytes, timeout: float = 10) -> bytes:
    """The container's logs once they hold `needle` (logs reach Docker late)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = container_logs(name)
        if needle in logs or time.monotonic() > deadline:
            return logs
        time.sleep(0.3)


@dataclass(frozen=True)
class Edge:
    """A second Nginx from the stack's image, on the stack's network, with its own settings."""

    name: str
    https_port: int
    http_port: int


def nginx_image(stack: Stack) -> str:
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.Config.Image}}", f"{stack.project}-nginx-1"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip


@contextmanager
def extra_nginx(stack: Stack, **env: str) -> Iterator[Edge]:
    """Runs the stack's Nginx image again with `env` on top of the defaults (UPSTREAM=chatbot:3000), its ports
    published on 127.0.0.1; removed on exit."""
    image = nginx_image(stack)
    http_port, https_port = free_ports(2)
    name = f"{stack.project}-edge-{secrets.token_hex(3)}"
    settings = {"HTTPS_PORT": str(https_port), **env}
    args = ["docker", "run", "-d", "--name", name, "--network", stack.network]
    args += ["-p", f"127.0.0.1:{https_port}:443", "-p", f"127.0.0.1:{http_port}:80"]
    args += ["-v", f"{stack.ca_file.parent}:/etc/nginx/certs:ro"]
    for key, value in settings.items():
        args += ["-e", f"{key}={value}"]
    subprocess.run([*args, image], capture_output=True, check=True, timeout=60)
    try:
        _wait_answering(name, http_port)
        yield Edge(name, https_port, http_port)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def _wait_answering(name: str, http_port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError):
            if exchange(http_port, get("/"), None, timeout=2).status == 301:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{name} did not answer within {timeout} s:\n{container_logs(name).decode()[-3000:]}")


@contextmanager
def held_bodies(port: int, ca_file: Path, count: int) -> Iterator[list[socket.socket]]:
    """`count` POSTs whose headers are sent but whose body never comes: in flight at Nginx (until its
    client_body_timeout) without reaching the app. Closed on exit."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = connect(port, ca_file)
            sockets.append(sock)
            sock.sendall(get("/chat", "Content-Type: application/json", "Content-Length: 100", method="POST"))
            sock.sendall(b'{"message": ')
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def raise_open_files_limit(needed: int) -> None:
    """Lets this process hold `needed` sockets (a fresh machine's soft limit is often 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def open_streams(
    port: int, ca_file: Path, request: bytes, count: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """`count` TLS connections that each sent `request` (50 handshakes at a time, as a burst of clients)."""
    context = tls_context(ca_file)
    gate = asyncio.Semaphore(50)

    async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with gate:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="localhost"
            )
            writer.write(request)
            await writer.drain()
            return reader, writer

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def count_answered(readers: list[asyncio.StreamReader], wait: float = 0.5) -> int:
    """How many of these connections received anything (or were closed) within `wait` seconds."""
    reads = [asyncio.ensure_future(reader.read(1)) for reader in readers]
    done, pending = await asyncio.wait(reads, timeout=wait)
    for read in pending:
        read.cancel()
    return len(done)


def memory_mib(container: str) -> float:
    """The container's memory use as `docker stats` shows it."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split("/")[0].strip()  # fmt: skip
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 1 / 1024 / 1024}
    for unit, factor in units.items():
        if out.endswith(unit):
            return float(out[: -len(unit)]) * factor
    raise ValueError(out)
