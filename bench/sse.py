"""A small asyncio client for streamed replies (wrk cannot read Server-Sent Events): keep-alive HTTP/1.1
connections, over TLS or not, that send a request, then time its first delta and its end.

Raw HTTP/1.1 on asyncio streams rather than an HTTP library: the client shares 2 cores with what it measures,
and a benchmark that holds 1,000 streams must be able to open every connection first and then start every
stream at once (no library pool does that)."""

from __future__ import annotations

import asyncio
import json
import resource
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: What an event is: "delta" (its text), "done" (the whole reply), "error", or None (a ping, a role chunk...).
Kind = tuple[str | None, str]
Classify = Callable[[bytes], Kind]


def chatbot_event(event: bytes) -> Kind:
    """The chatbot's events (`event: delta|done|error` + `data: {...}`); `: ping` comments are None."""
    name, _, rest = event.partition(b"\n")
    if not name.startswith(b"event: "):
        return None, ""
    data = json.loads(rest.removeprefix(b"data: "))
    kind = name[7:].decode()
    if kind == "delta":
        return kind, str(data["text"])
    if kind == "done":
        return kind, str(data["reply"])
    return kind, json.dumps(data)


def openai_event(event: bytes) -> Kind:
    """OpenAI's chunks (`data: {...}`, then `data: [DONE]`): a delta is a chunk whose content is not empty."""
    data = event.removeprefix(b"data: ")
    if data == b"[DONE]":
        return "done", ""
    chunk = json.loads(data)
    if "error" in chunk:
        return "error", json.dumps(chunk["error"])
    choices = chunk.get("choices") or [{}]
    content = (choices[0].get("delta") or {}).get("content")
    return ("delta", content) if content else (None, "")


@dataclass
class Stream:
    """One streamed request, timed from the moment its request was written (perf_counter seconds)."""

    sent: float
    status: int | None = None
    first_delta: float | None = None
    ended: float | None = None
    deltas: list[str] = field(default_factory=list)
    reply: str | None = None  # the `done` event's whole reply (the chatbot's), "" for OpenAI's [DONE]
    error: str | None = None

    @property
    def ttfd_ms(self) -> float | None:
        return None if self.first_delta is None else (self.first_delta - self.sent) * 1000

    @property
    def complete(self) -> bool:
        """Ended with `done`, no error, and (for the chatbot) the pieces add up to the whole reply."""
        if self.error is not None or self.reply is None or not self.deltas:
            return False
        return self.reply == "" or "".join(self.deltas).strip() == self.reply.strip()


def raise_open_files_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def tls_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def post(path: str, body: dict[str, object], headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(data)}", "", ""]
    return "\r\n".join(lines).encode() + data


class Connection:
    """One keep-alive connection to 127.0.0.1:port (TLS with a CA file), used for one request at a time."""

    def __init__(self, port: int, context: ssl.SSLContext | None) -> None:
        self._port, self._context = port, context
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self, warm_path: str) -> None:
        """Connects (TLS handshake included) and sends one GET, so that the stream's timing holds neither."""
        self._reader, self._writer = await asyncio.open_connection(
            "127.0.0.1", self._port, ssl=self._context, server_hostname="localhost" if self._context else None
        )
        self._writer.write(f"GET {warm_path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        status, headers = await self._head()
        if status != 200:
            raise RuntimeError(f"GET {warm_path}: {status}")
        await self._reader.readexactly(int(headers.get("content-length", "0")))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    async def _head(self) -> tuple[int, dict[str, str]]:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers

    async def stream(self, request: bytes, classify: Classify, limit_s: float) -> Stream:
        assert self._writer is not None
        self._writer.write(request)
        stream = Stream(time.perf_counter())
        try:
            await asyncio.wait_for(self._read(stream, classify), limit_s)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as error:
            stream.error = stream.error or type(error).__name__
            self.close()
        return stream

    async def _read(self, stream: Stream, classify: Classify) -> None:
        assert self._reader is not None
        stream.status, headers = await self._head()
        if "chunked" not in headers.get("transfer-encoding", ""):
            body = await self._reader.readexactly(int(headers.get("content-length", "0")))
            stream.error = f"{stream.status}: {body[:200]!r}"
            return
        buffer = b""
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return
            buffer += (await self._reader.readexactly(size + 2))[:-2]
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                kind, text = classify(event)
                if kind == "delta":
                    if stream.first_delta is None:
                        stream.first_delta = time.perf_counter()
                    stream.deltas.append(text)
                elif kind == "done":
                    stream.ended, stream.reply = time.perf_counter(), text
                elif kind == "error":
                    stream.ended, stream.error = time.perf_counter(), text


async def open_connections(
    count: int, port: int, context: ssl.SSLContext | None, warm_path: str, at_once: int = 50
) -> list[Connection]:
    """`count` open connections (`at_once` handshakes at a time, as a burst of visitors would)."""
    gate = asyncio.Semaphore(at_once)

    async def one() -> Connection:
        async with gate:
            connection = Connection(port, context)
            await connection.open(warm_path)
            return connection

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def loop_streams(
    connections: list[Connection], request: Callable[[], bytes], classify: Classify, seconds: float
) -> list[Stream]:
    """Each connection sends a streamed request as soon as its previous one ended, for `seconds`."""
    deadline = time.perf_counter() + seconds
    streams: list[Stream] = []

    async def client(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            stream = await connection.stream(request(), classify, limit_s=60)
            streams.append(stream)
            if stream.error is not None:
                return

    await asyncio.gather(*(client(c) for c in connections))
    return streams


async def burst(
    connections: list[Connection], request: Callable[[], bytes], classify: Classify, limit_s: float
) -> list[Stream]:
    """One streamed request on every connection, all sent at once."""
    return list(await asyncio.gather(*(c.stream(request(), classify, limit_s) for c in connections)))
