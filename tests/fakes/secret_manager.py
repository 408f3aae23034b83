"""A fake Google Secret Manager speaking the real REST v1 wire protocol, for the real `gcloud secrets` CLI.

The deploy rehearsal points gcloud at it (`CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER=http://127.0.0.1:PORT/`
with an access-token file), on the operator's side (deploy/rotate.sh) and on the VM's (deploy/deploy.sh), so
that the commands, their flags and what they write are the real CLI's. Payload checksums (CRC32C) are checked
and sent the way the real API does.

    GET  /v1/projects/P/secrets/S                       the secret (404 when it has no version yet)
    GET  /v1/projects/P/secrets/S/versions/V            a version's metadata (V: a number or latest)
    GET  /v1/projects/P/secrets/S/versions/V:access     its payload
    POST /v1/projects/P/secrets/S:addVersion            a new version, which becomes `latest`

    GET  /_fake/requests        "METHOD path" of every API request, oldest first
    GET  /_fake/secrets/S       the latest payload, as text (what a test reads to check a rotation)
    POST /_fake/secrets/S       sets a new version from the request body (a test's own setup)
    POST /_fake/fail            {"status": 503}: every API request fails with it until reset
    POST /_fake/reset           clears the forced failure

Every API request must carry `Authorization: Bearer <the --token>` (401 otherwise, like the real API).
Run: python tests/fakes/secret_manager.py --port 8085 --token TOKEN [--project-number 123456789012]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), the checksum Secret Manager keeps for each payload."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass
class State:
    token: str
    project_number: str
    versions: dict[str, list[bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    fail_status: int | None = None


StateKey = web.AppKey("state", State)


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "status": code}}, status=status)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version_body(state: State, secret: str, number: int) -> dict[str, object]:
    return {
        "name": f"projects/{state.project_number}/secrets/{secret}/versions/{number}",
        "createTime": _now(),
        "state": "ENABLED",
        "replicationStatus": {"automatic": {}},
        "etag": f'"{number}"',
        "clientSpecifiedPayloadChecksum": True,
    }


@web.middleware
async def _api_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    state = request.app[StateKey]
    state.requests.append(f"{request.method} {request.path}")
    if request.headers.get("Authorization") != f"Bearer {state.token}":
        return _error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
    if state.fail_status is not None:
        return _error(state.fail_status, "The service is currently unavailable.", "UNAVAILABLE")
    return await handler(request)


def _resolve(state: State, secret: str, version: str) -> tuple[int, bytes] | web.Response:
    versions = state.versions.get(secret)
    if not versions:
        return _error(404, f"Secret [{secret}] not found or has no versions.", "NOT_FOUND")
    if version == "latest":
        return len(versions), versions[-1]
    if version.isdigit() and 1 <= int(version) <= len(versions):
        return int(version), versions[int(version) - 1]
    return _error(404, f"Secret Version [{version}] not found.", "NOT_FOUND")


async def _get_secret(request: web.Request) -> web.Response:
    state, secret = request.app[StateKey], request.match_info["secret"]
    if secret not in state.versions:
        return _error(404, f"Secret [{secret}] not found.", "NOT_FOUND")
    name = f"projects/{state.project_number}/secrets/{secret}"
    return web.json_response({"name": name, "replication": {"automatic": {}}, "createTime": _now()})


async def _get_version(request: web.Request) -> web.Response:
    state, secret, version = (
        request.app[StateKey],
        request.match_info["secret"],
        request.match_info["version"],
    )
    found = _resolve(state, secret, version)
    if isinstance(found, web.Response):
        return found
    return web.json_response(_version_body(state, secret, found[0]))


async def _access(request: web.Request) -> web.Response:
    state, secret, version = (
        request.app[StateKey],
        request.match_info["secret"],
        request.match_info["version"],
    )
    found = _resolve(state, secret, version)
    if isinstance(found, web.Response):
        return found
    number, data = found
    payload = {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc32c(data))}
    name = f"projects/{state.project_number}/secrets/{secret}/versions/{number}"
    return web.json_response({"name": name, "payload": payload})


async def _add_version(request: web.Request) -> web.Response:
    state, secret = request.app[StateKey], request.match_info["secret"]
    try:
        payload = (await request.json())["payload"]
        data = base64.b64decode(payload["data"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return _error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
    if "dataCrc32c" in payload and int(payload["dataCrc32c"]) != crc32c(data):
        return _error(400, "Checksum mismatch.", "DATA_LOSS")
    state.versions.setdefault(secret, []).append(data)
    return web.json_response(_version_body(state, secret, len(state.versions[secret])))


async def _requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[StateKey].requests)


async def _read_latest(request: web.Request) -> web.Response:
    versions = request.app[StateKey].versions.get(request.match_info["secret"])
    if not versions:
        return web.Response(status=404)
    return web.Response(body=versions[-1], content_type="text/plain")


async def _set_latest(request: web.Request) -> web.Response:
    request.app[StateKey].versions.setdefault(request.match_info["secret"], []).append(await request.read())
    return web.Response(status=204)


async def _fail(request: web.Request) -> web.Response:
    request.app[StateKey].fail_status = int((await request.json()).get("status", 503))
    return web.Response(status=204)


async def _reset(request: web.Request) -> web.Response:
    request.app[StateKey].fail_status = None
    return web.Response(status=204)


def make_app(token: str, project_number: str = "123456789012") -> web.Application:
    app = web.Application(middlewares=[_api_guard])
    app[StateKey] = State(token=token, project_number=project_number)
    secret = "/v1/projects/{project}/secrets/{secret}"
    app.router.add_get(secret, _get_secret)
    app.router.add_post(secret + ":addVersion", _add_version)
    app.router.add_get(secret + "/versions/{version}:access", _access)
    app.router.add_get(secret + "/versions/{version}", _get_version)
    app.router.add_get("/_fake/requests", _requests)
    app.router.add_get("/_fake/secrets/{secret}", _read_latest)
    app.router.add_post("/_fake/secrets/{secret}", _set_latest)
    app.router.add_post("/_fake/fail", _fail)
    app.router.add_post("/_fake/reset", _reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--token", required=True, help="the bearer token every API request must carry")
    parser.add_argument("--project-number", default="123456789012")
    args = parser.parse_args()
    web.run_app(make_app(args.token, args.project_number), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
