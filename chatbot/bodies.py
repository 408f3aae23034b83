"""Reading JSON request bodies without trusting them: every malformed body is a 400 that says why."""

from __future__ import annotations

import json
from typing import Any

from chatbot import texts
from chatbot.errors import ApiError


def read_object(body: bytes, *, empty: str = texts.MISSING) -> dict[str, Any]:
    """The body's JSON object; ApiError(400) when empty, not JSON, too deeply nested or not an object."""
    if not body.strip():
        raise ApiError(400, empty)
    try:
        payload = json.loads(body)
    except RecursionError:
        # Nesting deep enough to exhaust the parser's stack: within the size limit, refused all the same.
        raise ApiError(400, texts.TOO_DEEP) from None
    except ValueError:  # not JSON, not UTF-8/16/32, or an integer too long to convert
        raise ApiError(400, texts.NOT_JSON) from None
    if not isinstance(payload, dict):
        raise ApiError(400, texts.NOT_OBJECT)
    return payload


def valid_text(value: str) -> str:
    """`value`, or ApiError(400) when it cannot be encoded (lone surrogates such as "\\ud800")."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, texts.INVALID_TEXT) from None
    return value
