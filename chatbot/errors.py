"""Errors a client sees: JSON `{"error": "..."}` with the right status; never a trace or upstream text."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request
from sanic.exceptions import BadURL, MethodNotAllowed, PayloadTooLarge, RequestCancelled, SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json

from chatbot import texts
from chatbot.llm import UpstreamError

log = logging.getLogger("chatbot.errors")
upstream_log = logging.getLogger("chatbot.upstream")

#: Kept under its old name: the text shown for each status when the error carries no message of ours.
MESSAGES = texts.STATUS_TEXTS


class ApiError(SanicException):
    """An error of ours whose message is safe to show to the client."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, status_code=status, headers=headers or {})
        self.public_message = message


def error_response(status: int, message: str, headers: dict[str, Any] | None = None) -> HTTPResponse:
    return json({"error": message}, status=status, headers=headers)


def upstream_fault(request: Request, error: UpstreamError) -> HTTPResponse:
    """An upstream failure as the client sees it (502/503/504), logged once with its cause."""
    fault = error.fault
    level = logging.WARNING if fault.status in (503, 504) else logging.ERROR
    upstream_log.log(
        level,
        "upstream call failed: %s",
        fault.name,
        extra={"cause": error.cause, "upstream_fault": fault.name.lower()},
    )
    request.ctx.upstream_fault = fault.name.lower()
    request.app.ctx.metrics.fault(fault.name.lower())
    headers = {"Retry-After": str(error.retry_after or 1)} if fault.status == 503 else None
    return error_response(fault.status, fault.text, headers)


class SafeRequest(Request):
    """Sanic's Request, except that the stand-in request Sanic builds to answer a bad request line is always
    built: Sanic reuses the URL it could not parse (one holding a NUL), fails again, and drops the connection
    without an answer, logging a traceback."""

    def __init__(self, url_bytes: bytes, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(url_bytes, *args, **kwargs)
        except BadURL:
            if kwargs.get("method") != "NONE":  # a real request: its 400 is answered with the stand-in
                raise
            super().__init__(b"*", *args, **kwargs)


class JsonErrorHandler(ErrorHandler):
    """Sanic's error handler, answering JSON for every exception, its own included (404, 405, 413...)."""

    def default(self, request: Request, exception: BaseException) -> HTTPResponse:
        if isinstance(exception, UpstreamError):
            return upstream_fault(request, exception)
        if isinstance(exception, RequestCancelled):
            # The client went away mid-request: nothing failed on our side, and nobody reads this answer.
            log.info("client closed the connection during %s %s", request.method, request.path)
            return error_response(499, texts.CANCELLED)
        status = getattr(exception, "status_code", 500) if isinstance(exception, SanicException) else 500
        if isinstance(exception, PayloadTooLarge) and "header" in str(exception).lower():
            status = 431  # Sanic says 413 for an oversized head; 431 is what it is (RFC 6585)
        # A status without a text of its own (417: an unknown Expect) is still the client's error, not ours.
        fallback = MESSAGES[400] if status < 500 else MESSAGES[500]
        message = getattr(exception, "public_message", None) or MESSAGES.get(status) or fallback
        if status >= 500 and not isinstance(exception, ApiError):
            log.error("unhandled error while serving %s %s", request.method, request.path, exc_info=exception)
        headers = dict(getattr(exception, "headers", None) or {})
        if isinstance(exception, MethodNotAllowed) and "Allow" not in headers:
            headers["Allow"] = allowed_methods(request)
        return error_response(status, message, headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """What a 405 must list (RFC 9110): Sanic's router leaves it out for paths with parameters."""
    allowed = []
    for method in _METHODS:
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except SanicException:
            continue
        allowed.append(method)
    return ", ".join(allowed)
