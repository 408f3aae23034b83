"""Client authentication: the `x-api-key` header against the configured keys, in constant time."""

from __future__ import annotations

import hashlib
import hmac

from sanic import Request

from chatbot.errors import ApiError

HEADER = "x-api-key"
INVALID_KEY = "Clé API invalide ou manquante."


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


def is_public(request: Request) -> bool:
    """Routes marked `ctx_public=True`, the API docs, and CORS preflights need no key."""
    if request.method == "OPTIONS":
        return True
    route = request.route
    if route is None:
        return True  # no route: the 404/405 answer reveals nothing and costs nothing
    if getattr(route.ctx, "public", False):
        return True
    return route.name.split(".")[1:2] == ["openapi"]


async def require_api_key(request: Request) -> None:
    """Request middleware: refuse any non-public route without a valid key."""
    if is_public(request):
        return
    checker: KeyChecker = request.app.ctx.keys
    if not checker.accepts(request.headers.get(HEADER)):
        raise ApiError(401, INVALID_KEY)
