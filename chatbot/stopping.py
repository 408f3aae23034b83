"""Refuse new connections as soon as the server is asked to stop (SIGTERM, SIGINT), in the main process.

Sanic's main process holds the listening socket until every worker has finished: meanwhile the kernel still
completes new connections that no worker will ever accept, so they hang until the process exits and are then
reset. A proxy cannot pass such a request to another replica (it was sent). Shutting the socket down first
makes new connections fail at once (refused), which Nginx does retry elsewhere; requests already being served,
streamed replies included, still finish within SHUTDOWN_GRACE_SECONDS.
"""

from __future__ import annotations

import logging
import signal
import socket
from contextlib import suppress
from types import FrameType
from typing import Any

from sanic import Sanic

log = logging.getLogger("chatbot.stopping")


def listening_sockets(app: Sanic[Any, Any]) -> list[socket.socket]:
    """The sockets the main process bound for its workers."""
    return [s for info in app.state.server_info if isinstance(s := info.settings.get("sock"), socket.socket)]


def refuse_first(sockets: list[socket.socket], previous: Any) -> Any:
    """A signal handler that shuts the sockets down, then runs `previous` (Sanic's own)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        for sock in sockets:
            with suppress(OSError):  # already shut down (a second signal)
                sock.shutdown(socket.SHUT_RDWR)
        if callable(previous):
            previous(signum, frame)

    return handler


async def install(app: Sanic[Any, Any]) -> None:
    """main_process_ready listener: Sanic's manager has set its handlers by then; ours wrap them."""
    sockets = listening_sockets(app)
    if not sockets:
        log.warning("no listening socket found: new connections are accepted until the server exits")
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, refuse_first(sockets, signal.getsignal(sig)))
