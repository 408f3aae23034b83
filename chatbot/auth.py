"""Who is calling: a holder of a secret API key (`x-api-key`), or a widget visitor with a signed token
(`Authorization: Bearer ...`) from the site the token was issued to. Deny by default."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from sanic import Request

from chatbot import texts
from chatbot.cors import own_origin
from chatbot.errors import ApiError
from chatbot.tokens import TokenSigner, fingerprint

HEADER = "x-api-key"
INVALID_KEY = texts.INVALID_KEY


def _digest(value: str) -> bytes:
    # Hashing first makes the comparison independent of the keys' lengths as well as their contents.
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


class KeyChecker:
    """Holds digests of the valid keys; every listed key is accepted (rotation)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._digests = tuple(_digest(k) for k in keys)

    def accepts(self, given: str | None) -> bool:
        if not given:
            return False
        candidate = _digest(given)
        matched = False
        for digest in self._digests:  # no early exit: timing says nothing about which key matched
            matched |= hmac.compare_digest(candidate, digest)
        return matched


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller.

    `id` owns conversations and names per-caller limits (`k:<key fingerprint>` or `v:<visitor id>`);
    `budget` is whose daily token budget pays (the key's, or the widget's publishable key's); `label` names
    it in metrics (a fingerprint, never a key).
    """

    kind: Literal["key", "visitor"]
    id: str
    budget: str
    label: str
    origin: str | None = None


def key_caller(key: str) -> Caller:
    fp = fingerprint(key)
    return Caller("key", f"k:{fp}", f"k:{fp}", f"key-{fp[:8]}")


def is_public(request: Request) -> bool:
    """Routes marked `ctx_public=True`, the API docs, and CORS preflights need no key."""
    if request.method == "OPTIONS":
        return True
    route = request.route
    if route is None:
        return True  # no route: the 404/405 answer reveals nothing and costs nothing
    if getattr(route.ctx, "public", False):
        return True
    return route.name.split(".")[1:2] in (["openapi"], ["docs"])


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "").strip()
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(request: Request) -> None:
    """Request middleware: set `request.ctx.caller`, or refuse (401, or 403 for a token from another site)."""
    request.ctx.caller = None
    if is_public(request):
        return
    # Surrounding whitespace is not part of a header value (RFC 9110 5.5): `<key> ` is the key.
    key = request.headers.get(HEADER, "").strip()
    token = _bearer(request)
    signer: TokenSigner = request.app.ctx.tokens
    if key and "authorization" in request.headers and (token is None or signer.read(token) is None):
        # A credential that fails is refused even beside a good one: no guessing which one was meant.
        raise ApiError(401, texts.TOKEN_INVALID)
    if key:
        if not request.app.ctx.keys.accepts(key):
            raise ApiError(401, INVALID_KEY)
        request.ctx.caller = key_caller(key)
        return
    if token is None or request.route is None or not getattr(request.route.ctx, "visitors", False):
        raise ApiError(401, INVALID_KEY)
    visitor = signer.read(token)
    if visitor is None:
        raise ApiError(401, texts.TOKEN_INVALID)
    origin = request.headers.get("origin", "").rstrip("/")
    if not origin and request.headers.get("sec-fetch-site") == "same-origin":
        # Browsers send no Origin with a same-origin GET (the /demo page reading its transcript);
        # Sec-Fetch-Site, which no page can set, says the page is on this host.
        origin = own_origin(request)
    if origin != visitor.origin:
        raise ApiError(403, texts.TOKEN_WRONG_ORIGIN)
    request.ctx.caller = Caller(
        "visitor",
        f"v:{visitor.id}",
        f"pk:{visitor.key_fingerprint}",
        f"widget-{visitor.key_fingerprint[:8]}",
        visitor.origin,
    )
