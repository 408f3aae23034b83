"""OpenAPI schemas and the responses each route documents (sanic-ext builds the document from them)."""

from __future__ import annotations

from typing import Any

from sanic_ext import openapi
from sanic_ext.extensions.openapi.builders import OperationStore
from sanic_ext.extensions.openapi.definitions import Response

from chatbot import texts
from chatbot.llm import Fault

SECURITY_SCHEME = "ApiKeyAuth"
VISITOR_SCHEME = "VisitorToken"
KEY_ONLY: dict[str, list[str]] = {SECURITY_SCHEME: []}
#: For routes a widget visitor may call: a second, alternative security requirement (the key OR a token).
visitors_too = openapi.secured({VISITOR_SCHEME: []})

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What went wrong, for a human"}},
}
CONVERSATION_ID: dict[str, Any] = {
    "type": "string",
    "description": "A conversation's id, as returned by a previous reply",
    "example": "b3J6Gq0m1mZlq6x0cW7T9g",
}
CHAT_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {
            "type": "string",
            "minLength": 1,
            # Not blank: what the route refuses, the schema must not call valid (the fuzzer checks it).
            "pattern": r"\S",
            "description": "The visitor's question (not blank; at most MAX_MESSAGE_CHARS characters)",
            "example": "Bonjour, comment ça va?",
        },
        "conversation_id": {
            **CONVERSATION_ID,
            "description": "Continue this conversation (when it is known and yours; else a new one starts)",
        },
        "stream": {
            "type": "boolean",
            "default": False,
            "description": "Answer with Server-Sent Events (text/event-stream) as the model writes",
        },
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
        "conversation_id": {
            **CONVERSATION_ID,
            "description": "The conversation this reply belongs to (present when conversations are on)",
        },
    },
}
CHAT_EVENTS: dict[str, Any] = {
    "type": "object",
    "description": (
        'Server-Sent Events: `event: delta` with `data: {"text": "..."}` for each piece of the reply; '
        "then `event: done` with the fields of the JSON reply (`reply`, `conversation_id`, `sources`), or "
        '`event: error` with `{"error": "...", "status": 502|503|504}`; `: ping` comments while the model '
        "is silent."
    ),
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["delta", "done", "error"]},
        "data": {"type": "string", "description": "A JSON object, as described above"},
    },
    "example": {"event": "delta", "data": '{"text": "Bonjour"}'},
}
#: From a reply to its conversation's routes (clients and fuzzers follow these).
CONVERSATION_LINKS: dict[str, Any] = {
    name: {"operationId": operation, "parameters": {"conversation_id": "$response.body#/conversation_id"}}
    for name, operation in (
        ("ReadConversation", "get~conversations.read"),
        ("ForgetConversation", "delete~conversations.forget"),
    )
}
MESSAGES: dict[str, Any] = {
    "type": "object",
    "required": ["conversation_id", "messages"],
    "properties": {
        "conversation_id": CONVERSATION_ID,
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"type": "string", "enum": ["user", "assistant"]},
                    "content": {"type": "string"},
                },
            },
        },
    },
}
SESSION_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["key"],
    "properties": {
        "key": {"type": "string", "description": "The publishable key (WIDGET_KEY)", "example": "pk_live_x"},
        "visitor": {"type": "string", "description": "The previous token, to stay the same visitor"},
    },
}
SESSION: dict[str, Any] = {
    "type": "object",
    "required": ["token", "expires_in"],
    "properties": {
        "token": {"type": "string", "description": "For `Authorization: Bearer`, from the same Origin only"},
        "expires_in": {"type": "integer", "description": "Seconds until it expires"},
    },
}
FEEDBACK: dict[str, Any] = {
    "type": "object",
    "required": ["conversation_id", "rating"],
    "properties": {
        "conversation_id": {**CONVERSATION_ID, "pattern": "^[A-Za-z0-9_-]{16,64}$"},
        "rating": {"type": "string", "enum": ["up", "down"]},
        "comment": {"type": "string", "maxLength": 1000},
    },
}
FAQ_GAPS: dict[str, Any] = {
    "type": "object",
    "required": ["enabled", "days", "gaps"],
    "properties": {
        "enabled": {
            "type": "boolean",
            "description": "FAQ_GAPS: off by default (visitors' words are personal data)",
        },
        "days": {"type": "integer", "description": "How far back (FAQ_GAPS_DAYS)"},
        "gaps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["question", "count", "up", "down"],
                "properties": {
                    "question": {"type": "string", "description": "Normalised: lower case, single spaces"},
                    "count": {"type": "integer"},
                    "up": {"type": "integer", "description": "👍 on the replies it got"},
                    "down": {"type": "integer", "description": "👎 on the replies it got"},
                },
            },
        },
    },
}
USAGE: dict[str, Any] = {
    "type": "object",
    "required": ["tokens_today", "budget"],
    "properties": {
        "tokens_today": {"type": "integer", "minimum": 0, "description": "Tokens spent today (UTC)"},
        "budget": {"type": "integer", "minimum": 0, "description": "DAILY_TOKEN_BUDGET (0: no budget)"},
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
        "redis": {"type": "string", "enum": ["ok", "down", "off"]},
    },
}

_ERROR_EXAMPLES: dict[int, tuple[str, str]] = {
    400: (
        "Invalid body: no message, not JSON, not an object, message not a string, blank or too long",
        texts.MISSING,
    ),
    401: ("Missing, empty or wrong x-api-key (or visitor token)", texts.INVALID_KEY),
    403: ("A visitor token used from another site than its own", texts.TOKEN_WRONG_ORIGIN),
    404: ("Unknown conversation (or not yours)", texts.CONVERSATION_NOT_FOUND),
    413: ("Body larger than MAX_BODY_BYTES", texts.STATUS_TEXTS[413]),
    429: (
        "A rate limit (see Retry-After and the RateLimit fields) or the daily token budget is spent",
        texts.RATE_LIMITED.format(seconds=12),
    ),
    500: ("Unexpected error (logged with the request id)", texts.STATUS_TEXTS[500]),
    502: (
        "The model server failed, was unreachable, answered nonsense or refused our key",
        Fault.UNAVAILABLE.text,
    ),
    503: (
        "The model server is rate limiting us (see Retry-After), or the state store cannot answer",
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


def amend_response(handler: Any, status: int, *, no_content: bool = False, **fields: Any) -> None:
    """Say what sanic-ext's decorators cannot: a response without a body (they write `*/*`), or response
    `links` (they drop unknown fields). Call it after the route's decorators."""
    response = OperationStore()[handler].responses[status]  # type: ignore[no-untyped-call]
    if no_content:
        response.fields.pop("content", None)
    response.fields.update(fields)
