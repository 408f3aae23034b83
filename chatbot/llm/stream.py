"""OpenAI's streaming wire format: Server-Sent Events whose `data:` lines hold chat.completion.chunk objects.

data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Bon"}}]}
data: {"object":"chat.completion.chunk","choices":[],"usage":{...}}     (stream_options.include_usage)
data: [DONE]
"""

from __future__ import annotations

import json
from typing import Any

from chatbot.llm.base import Fault, UpstreamError, clean_text

#: One event line; a chunk is a few hundred bytes, so anything longer is not a completion stream.
MAX_LINE_BYTES = 256 * 1024


class ChunkParser:
    """Fed the decoded body as it arrives, returns the reply's text pieces; remembers usage and the end."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.usage: dict[str, Any] | None = None
        self.model = ""
        self.finished = False  # a choice said why it stopped (finish_reason)
        self.done = False  # `data: [DONE]` arrived

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        pieces: list[str] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            piece = self._line(line)
            if piece:
                pieces.append(piece)
        if len(self._buffer) > MAX_LINE_BYTES:
            raise UpstreamError(Fault.BAD_RESPONSE, "stream line longer than the limit")
        return pieces

    def close(self) -> None:
        """The body ended: raise unless the stream said it was complete."""
        if self._buffer.strip():
            self.feed(b"\n")
        if not (self.done or self.finished):
            raise UpstreamError(Fault.UNAVAILABLE, "stream ended before the reply was complete")

    def _line(self, line: bytes) -> str | None:
        # Blank lines end events; `event:`, `id:`, `retry:` and `:` comments carry nothing we need.
        if not line.startswith(b"data:"):
            return None
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            raise UpstreamError(Fault.BAD_RESPONSE, "stream event is not JSON") from None
        if not isinstance(payload, dict):
            raise UpstreamError(Fault.BAD_RESPONSE, "stream event is not a chunk")
        if payload.get("error") is not None:
            raise UpstreamError(Fault.UNAVAILABLE, "upstream sent an error in the stream")
        if isinstance(payload.get("usage"), dict):
            self.usage = payload["usage"]
        if isinstance(payload.get("model"), str):
            self.model = payload["model"]
        # Some compatible servers send `choices: null` in the usage chunk.
        choices = payload.get("choices") or []
        if not isinstance(choices, list):
            raise UpstreamError(Fault.BAD_RESPONSE, "stream chunk has no choices list")
        text = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise UpstreamError(Fault.BAD_RESPONSE, "stream chunk has a malformed choice")
            if choice.get("finish_reason"):
                self.finished = True
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if not isinstance(content, str) and isinstance(delta, dict):
                content = delta.get("refusal")
            if isinstance(content, str) and content:
                text.append(clean_text(content))
        return "".join(text) or None
