"""A fake Cloud Logging endpoint speaking the real v2 REST API (`POST /v2/entries:write`).

google-cloud-logging's HTTP transport posts JSON `{"entries": [...], "logName"?, "resource"?, "labels"?}`;
this server records every entry and answers `{}` like the real API. `--delay-s` makes it slow and
`--status` makes it fail, to show that a slow or failing Logging API never slows `/chat`.

    GET  /_fake/entries   every entry received, oldest first
    POST /_fake/reset     forget them

Run: python tests/fakes/cloud_logging.py --port 8085 [--delay-s 5] [--status 500]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from aiohttp import web

Entries = web.AppKey("entries", list)
Behaviour = web.AppKey("behaviour", dict)


async def write_entries(request: web.Request) -> web.Response:
    behaviour = request.app[Behaviour]
    if behaviour["delay_s"]:
        await asyncio.sleep(behaviour["delay_s"])
    if behaviour["status"] != 200:
        return web.json_response(
            {"error": {"code": behaviour["status"], "message": "fake failure", "status": "UNAVAILABLE"}},
            status=behaviour["status"],
        )
    body: dict[str, Any] = await request.json()
    defaults = {k: body[k] for k in ("logName", "resource", "labels") if k in body}
    for entry in body.get("entries", []):
        request.app[Entries].append(
            {**defaults, **entry, "_authorization": request.headers.get("Authorization")}
        )
    return web.json_response({})


async def list_entries(request: web.Request) -> web.Response:
    return web.json_response(request.app[Entries])


async def reset(request: web.Request) -> web.Response:
    request.app[Entries].clear()
    return web.json_response({})


def make_app(*, delay_s: float = 0, status: int = 200) -> web.Application:
    app = web.Application()
    app[Entries] = []
    app[Behaviour] = {"delay_s": delay_s, "status": status}
    app.router.add_post("/v2/entries:write", write_entries)
    app.router.add_get("/_fake/entries", list_entries)
    app.router.add_post("/_fake/reset", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--delay-s", type=float, default=0)
    parser.add_argument("--status", type=int, default=200)
    args = parser.parse_args()
    web.run_app(
        make_app(delay_s=args.delay_s, status=args.status), host=args.host, port=args.port, print=None
    )


if __name__ == "__main__":
    main()
