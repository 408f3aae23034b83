"""The upstream model: OpenAI's Chat Completions API or any server that speaks it.

Two clients share one contract and one error taxonomy. `HttpChatClient` (the default) is one aiohttp POST
per attempt with the openai SDK's retry policy; it costs about a fifth of the SDK's CPU per call (README:
"Why the call path is built this way"). `SdkChatClient` uses the `openai` SDK itself (OPENAI_CLIENT=sdk).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import aiohttp

from chatbot import __version__
from chatbot.config import OpenAIClient, Settings

log = logging.getLogger("chatbot.llm")

#: One chat message as sent upstream: {"role": ..., "content": ...}.
Message = Mapping[str, Any]

# What the openai SDK retries: timeouts aside (see _attempt), these statuses and connection failures.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
# A visitor waits on the other side: an upstream that asks for a longer pause gets a 503 with its Retry-After.
MAX_RETRY_AFTER_S = 5.0
# Reasoning models refuse `max_tokens` and any temperature but the default.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class Fault(Enum):
    """What went wrong upstream, and what the client sees: (HTTP status, error text)."""

    UNAVAILABLE = (502, "Le service de langage est indisponible, réessayez plus tard.")
    BAD_RESPONSE = (502, "Le service de langage a renvoyé une réponse invalide.")
    REJECTED = (502, "Le service de langage a refusé la requête du chatbot.")
    RATE_LIMITED = (503, "Le service de langage est saturé, réessayez plus tard.")
    TIMEOUT = (504, "Le service de langage n'a pas répondu à temps.")

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
    text: str
    model: str
    usage: dict[str, Any] | None = None


class ChatClient(Protocol):
    """What the /chat route needs from a model provider."""

    async def complete(self, messages: Sequence[Message], *, request_id: str | None = None) -> Completion: ...

    async def close(self) -> None: ...


def completion_params(settings: Settings) -> dict[str, Any]:
    """The generation parameters sent with every call, in the form the configured model accepts."""
    if settings.openai_model.startswith(_REASONING_PREFIXES):
        return {"max_completion_tokens": settings.openai_max_tokens}
    return {"max_tokens": settings.openai_max_tokens, "temperature": settings.openai_temperature}


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
    return Completion(text.strip(), str(payload.get("model", "")), usage if isinstance(usage, dict) else None)


def _retry_after(headers: Any) -> float | None:
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


def _backoff(attempt: int) -> float:
    jitter = 1 - 0.25 * random.random()  # noqa: S311
    return float(min(INITIAL_BACKOFF_S * 2**attempt, MAX_BACKOFF_S) * jitter)


def _fault_for_status(status: int) -> Fault:
    if status == 429:
        return Fault.RATE_LIMITED
    if status in (408, 504):
        return Fault.TIMEOUT
    if status >= 500:
        return Fault.UNAVAILABLE
    return Fault.REJECTED


class HttpChatClient:
    """Chat Completions over one pooled aiohttp session: a plain POST, retried like the openai SDK does."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._url = f"{settings.openai_base_url}/chat/completions"
        self._params = completion_params(settings)
        self._headers = {
            "Authorization": f"Bearer {settings.openai_api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"chatbot-mvp/{__version__}",
        }
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=30, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._settings.openai_timeout),
            raise_for_status=False,
            auto_decompress=True,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def complete(self, messages: Sequence[Message], *, request_id: str | None = None) -> Completion:
        body = json.dumps({"model": self._settings.openai_model, "messages": messages, **self._params})
        headers = (
            self._headers if request_id is None else {**self._headers, "X-Client-Request-Id": request_id}
        )
        retries = self._settings.openai_max_retries
        for attempt in range(retries + 1):
            try:
                return await self._attempt(body, headers)
            except UpstreamError as error:
                wait = self._retry_wait(error, attempt, retries)
                if wait is None:
                    raise
                log.warning(
                    "upstream attempt %d failed, retrying in %.2f s",
                    attempt + 1,
                    wait,
                    extra={"cause": error.cause},
                )
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _retry_wait(error: UpstreamError, attempt: int, retries: int) -> float | None:
        if attempt >= retries or not error.retryable:
            return None
        if error.retry_after is not None:
            return float(error.retry_after) if error.retry_after <= MAX_RETRY_AFTER_S else None
        return _backoff(attempt)

    async def _attempt(self, body: str, headers: dict[str, str]) -> Completion:
        if self._session is None:
            raise RuntimeError("HttpChatClient.start() was not awaited")
        try:
            async with self._session.post(self._url, data=body, headers=headers) as response:
                raw = await response.read()
                status = response.status
                retry_after = _retry_after(response.headers)
        except TimeoutError:
            # Not retried: the visitor has already waited OPENAI_TIMEOUT.
            raise UpstreamError(
                Fault.TIMEOUT, f"no answer within {self._settings.openai_timeout:g} s"
            ) from None
        except aiohttp.ClientError as error:
            cause = f"connection failed: {type(error).__name__}"
            raise UpstreamError(Fault.UNAVAILABLE, cause, retryable=True) from None
        if status != 200:
            raise UpstreamError(
                _fault_for_status(status),
                f"upstream answered HTTP {status}",
                retry_after=None if retry_after is None else max(1, round(retry_after)),
                retryable=status in RETRYABLE_STATUSES,
            )
        try:
            payload = json.loads(raw)
        except ValueError:
            raise UpstreamError(Fault.BAD_RESPONSE, "response body is not JSON") from None
        return parse_completion(payload)


class SdkChatClient:
    """The same contract through the `openai` SDK (OPENAI_CLIENT=sdk): its retries, errors and transport."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._params = completion_params(settings)
        self._client: Any = None

    async def start(self) -> None:
        # Imported here: the SDK costs ~25 MB per worker, paid only by those who choose it.
        from openai import AsyncOpenAI, DefaultAioHttpClient  # noqa: PLC0415

        self._client = AsyncOpenAI(
            api_key=self._settings.openai_api_key,
            base_url=self._settings.openai_base_url,
            timeout=self._settings.openai_timeout,
            max_retries=self._settings.openai_max_retries,
            http_client=DefaultAioHttpClient(),
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def complete(self, messages: Sequence[Message], *, request_id: str | None = None) -> Completion:
        import openai  # noqa: PLC0415

        extra_headers = {"X-Client-Request-Id": request_id} if request_id else None
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=self._settings.openai_model,
                messages=messages,
                extra_headers=extra_headers,
                **self._params,
            )
            payload = json.loads(raw.content)
        except openai.APITimeoutError as error:
            # The SDK's aiohttp transport reports a refused connection as a connect timeout: unreachable, 502.
            if type(error.__cause__).__name__ == "ConnectTimeout":
                raise UpstreamError(Fault.UNAVAILABLE, f"connection failed: {error.__cause__}") from None
            raise UpstreamError(Fault.TIMEOUT, "no answer within the timeout") from None
        except openai.APIConnectionError as error:
            raise UpstreamError(Fault.UNAVAILABLE, f"connection failed: {type(error).__name__}") from None
        except openai.APIStatusError as error:
            retry_after = _retry_after(error.response.headers)
            raise UpstreamError(
                _fault_for_status(error.status_code),
                f"upstream answered HTTP {error.status_code}",
                retry_after=None if retry_after is None else max(1, round(retry_after)),
            ) from None
        except ValueError:
            raise UpstreamError(Fault.BAD_RESPONSE, "response body is not JSON") from None
        return parse_completion(payload)


def make_client(settings: Settings) -> HttpChatClient | SdkChatClient:
    if settings.openai_client is OpenAIClient.SDK:
        return SdkChatClient(settings)
    return HttpChatClient(settings)
