"""The shipping loop: read new lines from each log, send them as one batch, then record the new positions;
on failure, wait (exponential backoff) and send the same lines again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import Field

from chatbot.config import LoggingSettings
from chatbot.shipper.entries import Entry, access_entry, error_entry
from chatbot.shipper.sink import Backoff, Rejected
from chatbot.shipper.state import StateFile
from chatbot.shipper.tail import Chunk, LogTail, Position

log = logging.getLogger("chatbot.shipper")

#: Entries per `entries.write` call: well under the API's limits (1,000 entries and 10 MB per call).
BATCH_ENTRIES = 500


class ShipperSettings(LoggingSettings):
    """The logging settings the service reads, plus where the logs and the shipper's positions are."""

    edge_log_dir: Path = Path("/var/log/edge")
    shipper_state_dir: Path = Path("/var/lib/chatbot-shipper")
    shipper_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    #: Touched on every turn of the loop, for the container's healthcheck.
    shipper_heartbeat_file: Path = Path("/tmp/shipper-heartbeat")  # noqa: S108 (a tmpfs of its own)


@dataclass(frozen=True)
class Source:
    """A log file and how its lines become entries."""

    name: str
    to_entry: Callable[[str, str], Entry]


SOURCES = (Source("access.log", access_entry), Source("error.log", error_entry))


class Sink(Protocol):
    def write(self, entries: Sequence[Entry]) -> None: ...


class Shipper:
    def __init__(self, settings: ShipperSettings, sink: Sink) -> None:
        self._sink = sink
        self._state = StateFile(settings.shipper_state_dir / "positions.json")
        saved = self._state.load()
        self._tails = {s.name: LogTail(settings.edge_log_dir / s.name, saved.get(s.name)) for s in SOURCES}
        self._poll_s = settings.shipper_poll_seconds
        self._heartbeat = settings.shipper_heartbeat_file
        self._backoff = Backoff()
        self.shipped = 0

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set; a batch being sent when it is set is finished first."""
        while not stop.is_set():
            self._heartbeat.touch()
            wait = self.turn()
            if wait:
                stop.wait(wait)

    def turn(self) -> float:
        """One batch: read, send, record. Returns how long to wait before the next one (0: go on at once)."""
        chunks = {name: tail.read(BATCH_ENTRIES) for name, tail in self._tails.items()}
        entries = [
            source.to_entry(line.text, line.line_id)
            for source in SOURCES
            for line in chunks[source.name].lines
        ]
        if entries:
            try:
                self._sink.write(entries)
            except Rejected as error:
                # Retrying cannot fix it; the batch's valid entries were written (partial success).
                log.error("Cloud Logging rejected part of a batch of %d entries: %s", len(entries), error)
            except Exception as error:  # transport, auth, quota, 5xx: all worth another try later
                delay = self._backoff.next_delay()
                log.warning(
                    "Cloud Logging write failed (%s); %d entries kept, next try in %.1f s",
                    type(error).__name__,
                    len(entries),
                    delay,
                )
                return delay
            self._backoff.reset()
            self.shipped += len(entries)
        self._record(chunks)
        full = any(len(chunk.lines) >= BATCH_ENTRIES for chunk in chunks.values())
        return 0 if full else self._poll_s

    def _record(self, chunks: dict[str, Chunk]) -> None:
        before = self.positions()
        for name, chunk in chunks.items():
            self._tails[name].advance(chunk.end)
        if self.positions() != before:
            self.save()

    def save(self) -> None:
        self._state.save(self.positions())

    def positions(self) -> dict[str, Position | None]:
        return {name: tail.position for name, tail in self._tails.items()}
