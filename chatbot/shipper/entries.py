"""Nginx's log lines as Cloud Logging entries, shaped like the service's own: `severity`, `httpRequest`, the
request id as the label `request_id`, everything else in `jsonPayload` (with `logger`: nginx.access or
nginx.error).

Access lines are JSON already (nginx/snippets/access-log.conf writes them in that shape). Error lines are
Nginx's text format, `2026/11/25 17:22:46 [crit] 12#12: *3 message, client: ...`: their level becomes the
severity.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Nginx's error levels, as Cloud Logging's LogSeverity names.
ERROR_SEVERITIES = {
    "debug": "DEBUG",
    "info": "INFO",
    "notice": "NOTICE",
    "warn": "WARNING",
    "error": "ERROR",
    "crit": "CRITICAL",
    "alert": "ALERT",
    "emerg": "EMERGENCY",
}
_SEVERITIES = frozenset(ERROR_SEVERITIES.values()) | {"DEFAULT"}
_ERROR_LINE = re.compile(
    r"(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>[a-z]+)\] (?P<pid>\d+)#(?P<tid>\d+): "
    r"(?:\*(?P<connection>\d+) )?(?P<message>.*)"
)
# What Nginx appends to an error about a request: `, client: 1.2.3.4, server: _, request: "GET / HTTP/1.1"`.
_ERROR_CONTEXT = re.compile(r', (client|server|request|upstream|host|referrer): ("(?:[^"\\]|\\.)*"|[^,]*)')


@dataclass(frozen=True)
class Entry:
    """What `Batch.log_struct` takes: the payload and the LogEntry fields beside it."""

    payload: dict[str, Any]
    severity: str
    insert_id: str
    timestamp: datetime | None = None
    http_request: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def log_struct_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"severity": self.severity, "insert_id": self.insert_id}
        if self.timestamp is not None:
            kwargs["timestamp"] = self.timestamp
        if self.http_request is not None:
            kwargs["http_request"] = self.http_request
        if self.labels:
            kwargs["labels"] = self.labels
        return kwargs


def _utc(value: datetime) -> datetime:
    # The library writes a datetime's wall clock and drops its zone: hand it UTC.
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def access_entry(line: str, insert_id: str) -> Entry:
    try:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("not an object")
    except ValueError:
        return Entry({"logger": "nginx.access", "message": line, "unparsed": True}, "WARNING", insert_id)
    payload = {k: v for k, v in record.items() if k not in {"time", "severity", "httpRequest"}}
    payload.setdefault("logger", "nginx.access")
    http_request = record.get("httpRequest")
    severity = str(record.get("severity", "")).upper()
    if severity not in _SEVERITIES:
        status = http_request.get("status") if isinstance(http_request, dict) else None
        severity = "ERROR" if isinstance(status, int) and status >= 500 else "INFO"
    timestamp = None
    with suppress(ValueError):  # else Cloud Logging stamps the entry when it receives it
        timestamp = _utc(datetime.fromisoformat(str(record.get("time"))))
    request_id = record.get("request_id")
    return Entry(
        payload,
        severity,
        insert_id,
        timestamp,
        http_request if isinstance(http_request, dict) else None,
        {"request_id": request_id} if isinstance(request_id, str) and request_id else {},
    )


def error_entry(line: str, insert_id: str) -> Entry:
    match = _ERROR_LINE.fullmatch(line)
    if match is None:
        # Not Nginx's format (a continuation, or something else writing there): kept whole.
        return Entry({"logger": "nginx.error", "message": line}, "ERROR", insert_id)
    payload: dict[str, Any] = {
        "logger": "nginx.error",
        "message": match["message"],
        "pid": int(match["pid"]),
    }
    if match["connection"]:
        payload["connection"] = int(match["connection"])
    for name, value in _ERROR_CONTEXT.findall(match["message"]):
        payload.setdefault(name, value.strip('"'))
    # Nginx writes its error log in the container's local time, which is UTC in our images.
    timestamp = datetime.strptime(match["time"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=UTC)
    severity = ERROR_SEVERITIES.get(match["level"], "DEFAULT")
    return Entry(payload, severity, insert_id, timestamp)
