"""The access line: one per request, in Cloud Logging's httpRequest shape, plus what the exchange learnt
(token usage, cache, time to the first streamed piece). Query parameters that look like keys are redacted."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from sanic import Request

from chatbot.logs import access_record

access_log = logging.getLogger("chatbot.access")

# A key sent by mistake in the URL must not be written down anywhere.
_SECRET_PARAM = re.compile(r"(?i)(^|&)((?:x-)?api[-_]?key|key|token|access_token|auth)=[^&]*")


#: What the request's context may add to its access line: (attribute, field name).
_CONTEXT_FIELDS = (
    ("usage", "usage"),
    ("cache", "cache"),
    ("stream", "stream"),
    ("first_delta_ms", "first_delta_ms"),
    ("caller_label", "caller"),
    ("upstream_fault", "upstream_fault"),
)


def redact_query(query: str) -> str:
    return _SECRET_PARAM.sub(lambda m: f"{m[1]}{m[2]}=REDACTED", query)


def log_access(request: Request, status: int, size: int) -> None:
    """Called once per request when its answer is complete (a stream's when it ends): metrics, access line."""
    ctx = request.ctx
    seconds = time.perf_counter() - ctx.started
    route = f"/{request.route.path}" if request.route is not None else "unmatched"
    request.app.ctx.metrics.request(route, request.method, status, seconds)
    level = logging.ERROR if status >= 500 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    url = request.path if not request.query_string else f"{request.path}?{redact_query(request.query_string)}"
    extra: dict[str, Any] = {
        "httpRequest": access_record(
            method=request.method,
            url=url,
            status=status,
            latency_s=seconds,
            user_agent=request.headers.get("user-agent", ""),
            remote_ip=request.remote_addr or request.ip,
            size=size,
        ),
        "request_id": ctx.request_id,
    }
    for field, name in _CONTEXT_FIELDS:
        value = getattr(ctx, field, None)
        if value is not None:
            extra[name] = value
    access_log.log(level, "%s %s %d", request.method, request.path, status, extra=extra)
