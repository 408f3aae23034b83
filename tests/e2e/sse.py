"""Reading Server-Sent Events from an httpx streaming response, with each event's arrival time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]
    at: float  # seconds since the request was sent


def events(response: httpx.Response, started: float) -> Iterator[Event]:
    """The named events of a `text/event-stream` response as they arrive (`: ping` comments skipped)."""
    name, data = "", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif not line and name:
            yield Event(name, json.loads(data) if data else {}, time.monotonic() - started)
            name, data = "", ""
