"""Restart a server worker that died (OOM kill, segfault, `kill -9`): Sanic's manager only marks it FAILED.

Without this, one dead worker leaves the service on fewer workers while `/healthz` stays green on the others.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sanic import Sanic
from sanic.worker.constants import ProcessState

log = logging.getLogger("chatbot.supervise")

CHECK_INTERVAL_S = 1.0
SERVER_PREFIX = "Sanic-Server"


def dead_workers(processes: Any) -> list[str]:
    """Names of server workers that exited on their own (not stopped by a shutdown or a restart)."""
    return [p.name for p in processes if p.name.startswith(SERVER_PREFIX) and p.state is ProcessState.FAILED]


class WorkerSupervisor:
    """A main-process thread asking Sanic's manager to restart failed server workers."""

    def __init__(self, app: Sanic[Any, Any]) -> None:
        self._app = app
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        manager = self._app.manager
        while not self._stop.wait(CHECK_INTERVAL_S):
            for name in dead_workers(manager.processes):
                log.error("worker %s died; starting a new one", name)
                # The manager's own message format: a process name asks it to restart that process.
                manager.monitor_publisher.send(name)


async def start_supervisor(app: Sanic[Any, Any]) -> None:
    app.ctx.supervisor = WorkerSupervisor(app)
    app.ctx.supervisor.start()


async def stop_supervisor(app: Sanic[Any, Any]) -> None:
    supervisor = getattr(app.ctx, "supervisor", None)
    if supervisor is not None:
        supervisor.stop()
