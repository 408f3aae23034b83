"""What every upstream client shares: the message and result types, the faults, the request parameters."""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from chatbot import texts
from chatbot.config import Settings

#: One chat message as sent upstream: {"role": ..., "content": ...}.
Message = Mapping[str, Any]

# What the openai SDK retries: timeouts aside (see the clients), these statuses and connection failures.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
# A visitor waits on the other side: an upstream that asks for a longer pause gets a 503 with its Retry-After.
MAX_RETRY_AFTER_S = 5.0
# Reasoning models refuse `max_tokens` and any temperature but the default.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_SURROGATES = re.compile("[\ud800-\udfff]")


class Fault(Enum):
    """What went wrong upstream, and what the client sees: (HTTP status, error text)."""

    UNAVAILABLE = (502, texts.UPSTREAM_UNAVAILABLE)
    BAD_RESPONSE = (502, texts.UPSTREAM_BAD_RESPONSE)
    REJECTED = (502, texts.UPSTREAM_REJECTED)
    RATE_LIMITED = (503, texts.UPSTREAM_RATE_LIMITED)
    TIMEOUT = (504, texts.UPSTREAM_TIMEOUT)

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


class UpstreamError(Exception):
    """An upstream failure; `cause` is for logs only and never reaches the client."""

    def __init__(
        self, fault: Fault, cause: str, *, retry_after: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(cause)
        self.fault = fault
        self.cause = cause
        self.retry_after = retry_after
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole reply: its text (trimmed), the model that wrote it, and the token usage when reported."""

    text: str
    model: str
    usage: dict[str, Any] | None = None


#: What a streaming call yields: an empty piece once the upstream accepted the request, pieces of the reply's
#: text as they come, then one Completion holding all of it.
StreamItem = str | Completion


class ChatClient(Protocol):
    """A model provider: one reply at once, or the same reply piece by piece."""

    async def start(self) -> None: ...

    async def complete(self, messages: Sequence[Message], *, request_id: str | None = None) -> Completion: ...

    def stream(
        self, messages: Sequence[Message], *, request_id: str | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        """Pieces as the model writes them, then the Completion; retried only before the first piece."""
        ...

    async def close(self) -> None: ...


def completion_params(settings: Settings) -> dict[str, Any]:
    """The generation parameters sent with every call, in the form the configured model accepts."""
    if settings.openai_model.startswith(_REASONING_PREFIXES):
        return {"max_completion_tokens": settings.openai_max_tokens}
    return {"max_tokens": settings.openai_max_tokens, "temperature": settings.openai_temperature}


def clean_text(text: str) -> str:
    """Text that encodes to UTF-8: a reply holding lone surrogates (JSON allows them) gets U+FFFD instead."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def parse_completion(payload: object) -> Completion:
    """The reply text of a Chat Completions response body, or UpstreamError(BAD_RESPONSE)."""
    try:
        assert isinstance(payload, dict)
        message = payload["choices"][0]["message"]
        text = message.get("content")
        if not isinstance(text, str):
            # A refusal is still an answer the visitor should read.
            text = message.get("refusal")
        assert isinstance(text, str)
    except (AssertionError, KeyError, IndexError, TypeError, AttributeError):
        raise UpstreamError(Fault.BAD_RESPONSE, "response is not a chat completion") from None
    usage = payload.get("usage")
    return Completion(
        clean_text(text).strip(), str(payload.get("model", "")), usage if isinstance(usage, dict) else None
    )


def completion_from_body(raw: bytes) -> Completion:
    """A Chat Completions response body (bytes) as a Completion, or UpstreamError(BAD_RESPONSE)."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise UpstreamError(Fault.BAD_RESPONSE, "response body is not JSON") from None
    return parse_completion(payload)


def retry_after_seconds(headers: Any) -> float | None:
    """OpenAI's `retry-after-ms`, else the standard `Retry-After` in seconds; None when absent or bad."""
    for name in ("retry-after-ms", "retry-after"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / (1000 if name == "retry-after-ms" else 1)
        except ValueError:
            continue
        if seconds >= 0:
            return float(seconds)
    return None


def backoff(attempt: int) -> float:
    jitter = 1 - 0.25 * random.random()  # noqa: S311
    return float(min(INITIAL_BACKOFF_S * 2**attempt, MAX_BACKOFF_S) * jitter)


def retry_wait(error: UpstreamError, attempt: int, retries: int) -> float | None:
    """Seconds to wait before the next attempt, or None: give up and raise."""
    if attempt >= retries or not error.retryable:
        return None
    if error.retry_after is not None:
        return float(error.retry_after) if error.retry_after <= MAX_RETRY_AFTER_S else None
    return backoff(attempt)


def status_error(status: int, headers: Any) -> UpstreamError:
    """The fault for an upstream HTTP status other than 200."""
    if status == 429:
        fault = Fault.RATE_LIMITED
    elif status in (408, 504):
        fault = Fault.TIMEOUT
    elif status >= 500:
        fault = Fault.UNAVAILABLE
    else:
        fault = Fault.REJECTED
    retry_after = retry_after_seconds(headers)
    return UpstreamError(
        fault,
        f"upstream answered HTTP {status}",
        retry_after=None if retry_after is None else max(1, round(retry_after)),
        retryable=status in RETRYABLE_STATUSES,
    )
