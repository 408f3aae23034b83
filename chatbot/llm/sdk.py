"""The same contract through the `openai` SDK (OPENAI_CLIENT=sdk): its retries, errors and transport."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from chatbot.config import Settings
from chatbot.llm.base import (
    Completion,
    Fault,
    Message,
    StreamItem,
    UpstreamError,
    clean_text,
    completion_from_body,
    completion_params,
    status_error,
)
from chatbot.llm.body import MAX_BODY_BYTES, too_large


class SdkChatClient:
    """Chat Completions through `AsyncOpenAI` with its aiohttp transport."""

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

    def _call(self, messages: Sequence[Message], request_id: str | None) -> dict[str, Any]:
        return {
            "model": self._settings.openai_model,
            "messages": messages,
            "extra_headers": {"X-Client-Request-Id": request_id} if request_id else None,
            **self._params,
        }

    async def complete(self, messages: Sequence[Message], *, request_id: str | None = None) -> Completion:
        create = self._client.chat.completions.with_streaming_response.create
        with _faults():
            # The streaming-response form reads the body in pieces: it is refused past the cap, not buffered.
            async with create(**self._call(messages, request_id)) as response:
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                    raise too_large(MAX_BODY_BYTES)
                raw = bytearray()
                async for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_BODY_BYTES:
                        raise too_large(MAX_BODY_BYTES)
        return completion_from_body(bytes(raw))

    async def stream(
        self, messages: Sequence[Message], *, request_id: str | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        with _faults():
            chunks = await self._client.chat.completions.create(
                **self._call(messages, request_id), stream=True, stream_options={"include_usage": True}
            )
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        model = ""
        try:
            yield ""  # accepted: from here on, faults reach the client as events, not as statuses
            with _faults():
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = chunk.usage.model_dump()
                    for choice in chunk.choices or ():
                        piece = choice.delta.content or getattr(choice.delta, "refusal", None)
                        if piece:
                            parts.append(clean_text(piece))
                            yield parts[-1]
        finally:
            # Closing the SDK's stream closes the HTTP response: the model stops writing.
            await chunks.close()
        yield Completion("".join(parts).strip(), model, usage)


@contextmanager
def _faults() -> Iterator[None]:
    """The SDK's exceptions, raised inside the block, as UpstreamError."""
    import openai  # noqa: PLC0415

    try:
        yield
    except openai.APITimeoutError as error:
        # The SDK's aiohttp transport reports a refused connection as a connect timeout: unreachable, 502.
        if type(error.__cause__).__name__ == "ConnectTimeout":
            raise UpstreamError(Fault.UNAVAILABLE, f"connection failed: {error.__cause__}") from None
        raise UpstreamError(Fault.TIMEOUT, "no answer within the timeout") from None
    except openai.APIStatusError as error:
        raise status_error(error.status_code, error.response.headers) from None
    except openai.APIConnectionError as error:
        raise UpstreamError(Fault.UNAVAILABLE, f"connection failed: {type(error).__name__}") from None
    except openai.APIError as error:
        raise UpstreamError(Fault.UNAVAILABLE, f"upstream error: {type(error).__name__}") from None
    except TimeoutError:
        raise UpstreamError(Fault.TIMEOUT, "no data within the timeout") from None
