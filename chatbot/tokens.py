"""Visitor tokens for the widget: short-lived, signed (HMAC-SHA256), bound to one site's origin.

A token is `v1.<payload>.<signature>`, both parts base64url: the payload is JSON {"v": visitor id,
"o": origin, "k": publishable key fingerprint, "exp": unix time}. Nothing in it is secret; what matters
is that only this service can make one. The signing secret is WIDGET_SECRET, or one derived from the API
keys when it is unset.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

PREFIX = "v1"
#: How long an expired token still names its visitor (to keep the same conversations on renewal).
RENEWABLE_S = 7 * 86400


def fingerprint(key: str) -> str:
    """A short, stable, one-way name for a key: for metrics, logs and budgets, never the key."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Visitor:
    """What a valid token says: who the visitor is, for which site, through which publishable key."""

    id: str
    origin: str
    key_fingerprint: str
    expires: int


class TokenSigner:
    def __init__(self, secret: str, *, ttl: int, derive_from: tuple[str, ...] = ()) -> None:
        if not secret:
            # Stable across workers and replicas that share the API keys; WIDGET_SECRET makes it independent.
            secret = hmac.new(
                b"chatbot-widget-tokens", "\n".join(sorted(derive_from)).encode(), "sha256"
            ).hexdigest()
        self._key = hashlib.sha256(secret.encode()).digest()
        self.ttl = ttl

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, f"{PREFIX}.{payload}".encode(), "sha256").digest())

    def issue(self, origin: str, key_fingerprint: str, visitor_id: str | None = None) -> str:
        body = {
            "v": visitor_id or secrets.token_urlsafe(12),
            "o": origin,
            "k": key_fingerprint,
            "exp": int(time.time()) + self.ttl,
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{PREFIX}.{payload}.{self._sign(payload)}"

    def read(self, token: str, *, allow_expired_for: int = 0) -> Visitor | None:
        """The visitor of a genuine, unexpired token (or expired less than `allow_expired_for` s ago)."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX or len(token) > 1024:
            return None
        if not hmac.compare_digest(self._sign(parts[1]), parts[2]):
            return None
        try:
            body = json.loads(_unb64(parts[1]))
            visitor = Visitor(str(body["v"]), str(body["o"]), str(body["k"]), int(body["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        if visitor.expires + allow_expired_for < time.time():
            return None
        return visitor
