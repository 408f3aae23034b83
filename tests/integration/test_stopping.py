"""SIGTERM to the server (what `docker stop` sends, to the main process only): new connections are refused at
once, so that a proxy passes them to another replica, while a streamed reply in flight runs to its end."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import httpx

from tests.integration.conftest import API_KEY, service_env
from tests.processes import service


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_refuses_new_connections_and_finishes_a_stream(upstream: str) -> None:
    outcome: list[bytes] = []
    with service(service_env(upstream, WORKERS="2")) as (url, proc):
        port = int(url.rsplit(":", 1)[1])

        def stream() -> None:
            body = {"message": "#stream:6x500 tenir bon", "stream": True}
            with httpx.stream(
                "POST", url + "/chat", json=body, headers={"x-api-key": API_KEY}, timeout=30
            ) as r:
                outcome.append(b"".join(r.iter_bytes()))

        reader = threading.Thread(target=stream)
        reader.start()
        time.sleep(1)  # the stream is under way (6 pieces, 0.5 s apart)
        os.kill(proc.proc.pid, signal.SIGTERM)
        stopped = time.monotonic()
        deadline = stopped + 1
        while not _refused(port):
            assert time.monotonic() < deadline, "a new connection is still accepted 1 s after SIGTERM"
            time.sleep(0.05)
        reader.join(30)
        proc.proc.wait(30)
    [body] = outcome
    assert body.count(b"event: delta") >= 1
    assert b"event: done" in body
    assert proc.proc.returncode == 0
    assert time.monotonic() - stopped < 15
