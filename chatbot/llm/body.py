"""Reading an upstream body without trusting it: a cap on the bytes read and on what they decompress to.

aiohttp's own decompression inflates each network chunk whole, so one 64 KB chunk of a gzip bomb could become
64 MB in a worker; here every chunk is inflated with a bound (zlib's `max_length`) and the total is capped.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import aiohttp

from chatbot.llm.base import Fault, UpstreamError

#: A chat completion is a few KB (max_tokens caps it); no legitimate reply comes near this.
MAX_BODY_BYTES = 4 * 1024 * 1024
_CHUNK = 64 * 1024
#: What the clients accept; anything else from the upstream is refused rather than guessed at.
ACCEPT_ENCODING = "gzip, deflate"


def too_large(limit: int) -> UpstreamError:
    return UpstreamError(Fault.BAD_RESPONSE, f"response body larger than {limit} bytes")


def _decoder(encoding: str) -> zlib._Decompress | None:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        # 32 + MAX_WBITS: zlib recognises the gzip and the zlib header by itself.
        return zlib.decompressobj(32 + zlib.MAX_WBITS)
    raise UpstreamError(Fault.BAD_RESPONSE, f"unsupported content encoding {encoding[:20]!r}")


async def iter_body(response: aiohttp.ClientResponse, limit: int = MAX_BODY_BYTES) -> AsyncIterator[bytes]:
    """The decoded body, chunk by chunk; UpstreamError(BAD_RESPONSE) past `limit` bytes, decoded or not."""
    if response.content_length is not None and response.content_length > limit:
        raise too_large(limit)
    decoder = _decoder(response.headers.get("Content-Encoding", ""))
    read = decoded = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        read += len(chunk)
        if read > limit:
            raise too_large(limit)
        if decoder is None:
            decoded += len(chunk)
            yield chunk
            continue
        try:
            data = decoder.decompress(chunk, limit - decoded + 1)
        except zlib.error:
            raise UpstreamError(Fault.BAD_RESPONSE, "response body is not valid compressed data") from None
        decoded += len(data)
        if decoded > limit:
            raise too_large(limit)
        if data:
            yield data
    if decoder is not None:
        tail = decoder.flush()
        if decoded + len(tail) > limit:
            raise too_large(limit)
        if tail:
            yield tail


async def read_body(response: aiohttp.ClientResponse, limit: int = MAX_BODY_BYTES) -> bytes:
    return b"".join([chunk async for chunk in iter_body(response, limit)])
