"""Clients of a running site while a deploy step runs (the deploy rehearsal, the Swarm stack): steady chats,
and streamed replies held across the step.

Both go through Nginx over HTTPS with the site's certificate, as real clients do. Messages carry a counter, so
that none is answered from the reply cache. A client is a well-behaved HTTP/1.1 client: when the kept-alive
connection it reuses is closed before any byte of the answer (Nginx closes idle client connections when it
reloads, and whenever their keepalive_timeout ends), it sends the request again once on a fresh connection, as
curl and browsers do. Such a request never reached the chatbot; those re-sends are counted apart (`resent`).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

import httpx


class Site(Protocol):
    """What the clients need: an HTTPS client on the site (its certificate trusted) and a key it accepts."""

    @property
    def api_key(self) -> str: ...

    def client(self) -> httpx.Client: ...


#: A streamed reply of 24 pieces, 0.5 s apart: 12 s in flight, longer than any replica's replacement.
STREAM_SPEC = "#stream:24x500"
_counter = itertools.count()


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    #: Sent again on a fresh connection: Nginx had closed the kept-alive one before reading the request.
    resent: int = 0
    #: Seconds from the first failure of a run of failures to the next success, the longest run.
    longest_gap: float = 0.0
    errors: list[str] = field(default_factory=list)


def _unclaimed(error: httpx.HTTPError) -> bool:
    """The server closed the connection before answering anything: the request was never read."""
    return isinstance(error, httpx.RemoteProtocolError) and "without sending a response" in str(error)


class _Background:
    """Threads that run while a `with` block runs."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


class ChatLoad(_Background):
    """Clients posting to /chat every `interval` s, one per key: how many were answered 200, and how many not
    (refused, failed, or no answer)."""

    def __init__(self, site: Site, keys: dict[str, str], interval: float = 0.1) -> None:
        super().__init__()
        self._site = site
        self._interval = interval
        self.tallies = {label: Tally() for label in keys}
        self._threads = [
            threading.Thread(target=self._run, args=(key, self.tallies[label]), daemon=True)
            for label, key in keys.items()
        ]

    def _post(self, client: httpx.Client, key: str, tally: Tally) -> bool:
        body = {"message": f"ping {next(_counter)}"}
        for attempt in (1, 2):
            try:
                answer = client.post("/chat", json=body, headers={"x-api-key": key}, timeout=10)
            except httpx.HTTPError as error:
                if attempt == 1 and _unclaimed(error):
                    tally.resent += 1
                    continue
                tally.errors.append(f"{type(error).__name__}: {error}")
                return False
            if answer.status_code != 200:
                tally.errors.append(f"{answer.status_code} {answer.text[:120]}")
            return answer.status_code == 200
        return False

    def _run(self, key: str, tally: Tally) -> None:
        failing_since: float | None = None
        with self._site.client() as client:
            while not self._stop.is_set():
                started = time.monotonic()
                if self._post(client, key, tally):
                    tally.ok += 1
                    if failing_since is not None:
                        tally.longest_gap = round(max(tally.longest_gap, started - failing_since), 2)
                        failing_since = None
                else:
                    tally.failed += 1
                    failing_since = started if failing_since is None else failing_since
                self._stop.wait(self._interval)


@dataclass
class Stream:
    started: float
    seconds: float
    status: int | str
    deltas: int
    done: bool


class HeldStreams(_Background):
    """One streamed reply (STREAM_SPEC) open at every moment of the block: each is read to its end, then the
    next one starts; the last one started is read to its end after the block."""

    def __init__(self, site: Site) -> None:
        super().__init__()
        self._site = site
        self.streams: list[Stream] = []
        #: Streams sent again on a fresh connection (see the module's docstring).
        self.resent = 0
        self._threads = [threading.Thread(target=self._run, daemon=True)]

    def _run(self) -> None:
        with self._site.client() as client:
            while not self._stop.is_set():
                stream = self._one(client)
                self.streams.append(stream)
                if not stream.done:
                    self._stop.wait(0.5)  # a failing stream is recorded, not retried in a tight loop

    def _one(self, client: httpx.Client) -> Stream:
        started = time.monotonic()
        body = {"message": f"{STREAM_SPEC} held {next(_counter)}", "stream": True}
        headers = {"x-api-key": self._site.api_key}
        for attempt in (1, 2):
            try:
                with client.stream("POST", "/chat", json=body, headers=headers, timeout=60) as response:
                    data = b"".join(response.iter_bytes())
                break
            except httpx.HTTPError as error:
                if attempt == 1 and _unclaimed(error):
                    self.resent += 1
                    continue
                return Stream(started, time.monotonic() - started, type(error).__name__, 0, False)
        return Stream(
            started,
            round(time.monotonic() - started, 1),
            response.status_code,
            data.count(b"event: delta"),
            b"event: done" in data,
        )


class Traffic:
    """Steady chats (two clients, 20 a second in all) and a streamed reply held open while a `with` block
    runs; `figures()` says what they saw."""

    def __init__(self, site: Site) -> None:
        self.chats = ChatLoad(site, {"a": site.api_key, "b": site.api_key})
        self.held = HeldStreams(site)

    def __enter__(self) -> Traffic:
        self.chats.__enter__()
        self.held.__enter__()
        time.sleep(1)  # a stream is in flight before the step starts
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.chats.__exit__(exc_type, exc, tb)
        self.held.__exit__(exc_type, exc, tb)

    @property
    def tally(self) -> Tally:
        a, b = self.chats.tallies.values()
        return Tally(
            a.ok + b.ok,
            a.failed + b.failed,
            a.resent + b.resent,
            max(a.longest_gap, b.longest_gap),
            a.errors + b.errors,
        )

    def figures(self) -> dict[str, float]:
        tally, streams = self.tally, self.held.streams
        return {
            "chats answered": tally.ok,
            "chats failed": tally.failed,
            "requests re-sent (kept-alive connection closed unread)": tally.resent + self.held.resent,
            "streams completed": sum(s.done for s in streams),
            "streams cut": sum(not s.done for s in streams),
        }

    def assert_all_served(self) -> None:
        """Zero failed chats, and every streamed reply ran to its `done` event."""
        tally, streams = self.tally, self.held.streams
        assert tally.ok > 0
        assert tally.failed == 0, tally.errors[:5]
        assert streams, "no streamed reply was held"
        assert all(s.done and s.status == 200 and s.deltas > 0 for s in streams), streams
