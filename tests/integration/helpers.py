"""Harness for the integration tests: log records awaited (never read right after a response), Server-Sent
Events read with httpx, raw HTTP for requests httpx refuses to send, the fake upstream's records, workers."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.processes import Process

Record = dict[str, Any]


def log_records(proc: Process, since: int = 0) -> list[Record]:
    """The service's log lines from line `since` on, parsed; every line must be UTF-8 JSON."""
    records = []
    for line in proc.lines[since:]:
        try:
            line.encode("utf-8")
            records.append(json.loads(line))
        except (UnicodeEncodeError, ValueError):
            pytest.fail(f"log line is not UTF-8 JSON: {line!r}")
    return records


def mark(proc: Process) -> int:
    """Where the log is now: pass it as `since` to look only at what comes next."""
    return len(proc.lines)


def wait_for_records(
    proc: Process, match: Callable[[Record], bool], *, timeout: float = 5, count: int = 1, since: int = 0
) -> list[Record]:
    """The records matching `match` once there are at least `count` of them; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in log_records(proc, since) if match(r)]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            tail = "\n".join(proc.lines[-20:])
            pytest.fail(
                f"{len(found)} of {count} expected log records after {timeout} s; last lines:\n{tail}"
            )
        time.sleep(0.05)


def settle(url: str, proc: Process, since: int = 0) -> list[Record]:
    """Every record logged before now, from line `since` on: a worker writes a request's lines before its
    response, so once a later request's access line is read, no line of the earlier ones is on its way."""
    rid = f"settle-{uuid.uuid4().hex[:12]}"
    httpx.get(url + "/healthz", headers={"x-request-id": rid})
    wait_for_records(proc, is_access(rid), since=since)
    return log_records(proc, since)


def post_chat(url: str, key: str, message: str, **fields: Any) -> httpx.Response:
    """POST /chat {"message", **fields} with key `key` (fields left None are not sent)."""
    body = {"message": message, **{k: v for k, v in fields.items() if v is not None}}
    return httpx.post(url + "/chat", json=body, headers={"x-api-key": key}, timeout=15)


def for_request(rid: str) -> Callable[[Record], bool]:
    return lambda record: record.get("request_id") == rid


def is_access(rid: str) -> Callable[[Record], bool]:
    return lambda record: record.get("request_id") == rid and record["logger"] == "chatbot.access"


@dataclass
class Event:
    """One Server-Sent Event (`name` "comment" for a `:` line), with its arrival time since the request."""

    name: str
    data: Any = None
    text: str = ""
    at: float = 0.0


def iter_events(response: httpx.Response, started: float) -> Iterator[Event]:
    name, data = "", []
    for line in response.iter_lines():
        now = time.monotonic() - started
        if line.startswith(":"):
            yield Event("comment", text=line[1:].strip(), at=now)
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and (name or data):
            yield Event(name or "message", json.loads("\n".join(data)) if data else None, at=now)
            name, data = "", []


@dataclass
class Streamed:
    status: int
    headers: httpx.Headers
    events: list[Event] = field(default_factory=list)
    body: str = ""

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


def stream_chat(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float = 15) -> Streamed:
    """POST /chat and read the whole answer: its events when it streams, its body otherwise."""
    started = time.monotonic()
    with httpx.stream("POST", url + "/chat", json=body, headers=headers, timeout=timeout) as response:
        result = Streamed(response.status_code, response.headers)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            result.events = list(iter_events(response, started))
        else:
            result.body = response.read().decode()
    return result


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(url: str, data: bytes, *, head: bool = False, timeout: float = 5) -> RawResponse:
    """Send `data` as is (httpx refuses malformed headers) and read one response."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock, method="HEAD" if head else None)
        response.begin()
        body = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def raw_post(url: str, body: bytes, headers: bytes = b"", path: bytes = b"/chat") -> RawResponse:
    """A POST with `headers` (raw `Name: value\\r\\n` lines) and a Content-Length that tells the truth."""
    return raw_request(
        url,
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        + headers
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body,
    )


def fake_url(upstream: str, path: str) -> str:
    return upstream.removesuffix("/v1") + path


def reset_fake(upstream: str) -> None:
    httpx.post(fake_url(upstream, "/_fake/reset"))


def fake_streams(upstream: str) -> list[dict[str, Any]]:
    return list(httpx.get(fake_url(upstream, "/_fake/streams")).json())


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def ready_workers(proc: Process, count: int) -> list[int]:
    """The server workers' pids once `count` of them are serving."""
    wait_for_records(proc, lambda r: str(r["message"]).startswith("Worker ready"), count=count, timeout=15)
    pids = proc.worker_pids()
    assert len(pids) == count, pids
    return pids


@contextmanager
def only_worker(proc: Process, pid: int) -> Iterator[None]:
    """New connections go to worker `pid` alone: the others are stopped (SIGSTOP) meanwhile. Sanic's workers
    share one listening socket, so a connection goes to whichever worker accepts it first."""
    others = [other for other in proc.worker_pids() if other != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)
