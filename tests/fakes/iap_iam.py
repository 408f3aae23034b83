"""A fake of IAP's IAM policy API for tunnel resources (REST v1 getIamPolicy, setIamPolicy), in a thread.

deploy/gcp-setup.sh's iap step reads the policy of `projects/P/iap_tunnel/zones/Z/instances/VM`, adds a
binding and writes it back; this fake keeps one policy per resource, checks the bearer token and the etag the
way the real API does (a stale etag is 409 ABORTED), and records every request for the test to read.

    with FakeIapIam(token="t") as iap:    # iap.url: the value for IAP_API (http://127.0.0.1:PORT/v1)
        ...                               # iap.requests: (path, body) of each call; iap.policies: by resource
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class FakeIapIam:
    def __init__(self, token: str) -> None:
        self.token = token
        self.policies: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                fake.requests.append((self.path, body))
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._answer(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                    return
                resource, _, method = self.path.removeprefix("/v1/").partition(":")
                if "/iap_tunnel/zones/" not in resource or "/instances/" not in resource:
                    self._answer(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
                    return
                current = fake.policies.setdefault(resource, {"version": 1, "etag": "BwYAAAAAAAA="})
                if method == "getIamPolicy":
                    self._answer(200, current)
                elif method == "setIamPolicy":
                    policy = body.get("policy", {})
                    if policy.get("etag") != current["etag"]:
                        self._answer(409, {"error": {"code": 409, "status": "ABORTED"}})
                        return
                    serial = len(fake.requests)
                    fake.policies[resource] = {**policy, "etag": f"BwY{serial:09d}="}
                    self._answer(200, fake.policies[resource])
                else:
                    self._answer(404, {"error": {"code": 404, "status": "NOT_FOUND"}})

        return Handler

    def __enter__(self) -> FakeIapIam:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
