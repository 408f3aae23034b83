"""OpenAPI schemas and the responses each route documents (sanic-ext builds the document from them)."""

from __future__ import annotations

from typing import Any

from sanic_ext.extensions.openapi.definitions import Response

from chatbot.auth import INVALID_KEY
from chatbot.errors import MESSAGES
from chatbot.llm import Fault

SECURITY_SCHEME = "ApiKeyAuth"

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What went wrong, for a human"}},
}
CHAT_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {
            "type": "string",
            "minLength": 1,
            "description": "The visitor's question (not blank; at most MAX_MESSAGE_CHARS characters)",
            "example": "Bonjour, comment ça va?",
        }
    },
}
CHAT_REPLY: dict[str, Any] = {
    "type": "object",
    "required": ["reply"],
    "properties": {
        "reply": {
            "type": "string",
            "example": "Bonjour ! Je vais bien, merci. Comment puis-je vous aider aujourd'hui?",
        },
        "sources": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Questions of the FAQ entries the reply is based on (absent or empty: none)",
        },
    },
}
HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}},
}
READY: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "starting"]},
        "provider": {"type": "string", "enum": ["openai", "faq"]},
        "model": {"type": "string"},
        "faq_entries": {"type": "integer", "minimum": 0},
    },
}

_ERROR_EXAMPLES: dict[int, tuple[str, str]] = {
    400: (
        "Invalid body: no message, not JSON, not an object, message not a string, blank or too long",
        "Message manquant dans la requête.",
    ),
    401: ("Missing, empty or wrong x-api-key", INVALID_KEY),
    413: ("Body larger than MAX_BODY_BYTES", MESSAGES[413]),
    500: ("Unexpected error (logged with the request id)", MESSAGES[500]),
    502: (
        "The model server failed, was unreachable, answered nonsense or refused our key",
        Fault.UNAVAILABLE.text,
    ),
    503: (
        "The model server is rate limiting us; see Retry-After",
        Fault.RATE_LIMITED.text,
    ),
    504: (
        "No answer from the model server within OPENAI_TIMEOUT",
        Fault.TIMEOUT.text,
    ),
}


def error_responses(*statuses: int) -> list[Response]:
    """Documented error responses, all with the `{"error": ...}` schema."""
    return [
        Response(
            {"application/json": {**ERROR, "example": {"error": _ERROR_EXAMPLES[s][1]}}},
            status=s,
            description=_ERROR_EXAMPLES[s][0],
        )
        for s in statuses
    ]
