"""Errors a client sees: JSON `{"error": "..."}` with the right status; never a trace or upstream text."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request
from sanic.exceptions import RequestCancelled, SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json

log = logging.getLogger("chatbot.errors")

#: The text shown for each status when the error carries no message of ours.
MESSAGES: dict[int, str] = {
    400: "Requête invalide.",
    404: "Ressource introuvable.",
    405: "Méthode non autorisée pour cette ressource.",
    408: "Délai de réception de la requête dépassé.",
    413: "Requête trop volumineuse.",
    500: "Erreur interne du serveur.",
    503: "Service momentanément indisponible, réessayez plus tard.",
}


class ApiError(SanicException):
    """An error of ours whose message is safe to show to the client."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, status_code=status, headers=headers or {})
        self.public_message = message


def error_response(status: int, message: str, headers: dict[str, Any] | None = None) -> HTTPResponse:
    return json({"error": message}, status=status, headers=headers)


class JsonErrorHandler(ErrorHandler):
    """Sanic's error handler, answering JSON for every exception, its own included (404, 405, 413...)."""

    def default(self, request: Request, exception: BaseException) -> HTTPResponse:
        status = getattr(exception, "status_code", 500) if isinstance(exception, SanicException) else 500
        message = getattr(exception, "public_message", None) or MESSAGES.get(status) or MESSAGES[500]
        if isinstance(exception, RequestCancelled):
            # The client went away mid-request: nothing failed on our side, and nobody reads this answer.
            log.info("client closed the connection during %s %s", request.method, request.path)
            return error_response(499, "Requête annulée par le client.")
        if status >= 500 and not isinstance(exception, ApiError):
            log.error("unhandled error while serving %s %s", request.method, request.path, exc_info=exception)
        headers = dict(getattr(exception, "headers", None) or {})
        return error_response(status, message, headers)
