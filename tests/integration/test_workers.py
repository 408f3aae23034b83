"""A server worker that dies is replaced; a normal shutdown replaces nothing."""

from __future__ import annotations

import os
import signal
import time

import httpx

from tests.integration.conftest import API_KEY, service_env
from tests.integration.helpers import wait_for_records
from tests.processes import service


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(upstream: str) -> None:
    with service(service_env(upstream, WORKERS="2")) as (url, proc):
        deadline = time.monotonic() + 15
        while sum("Worker ready" in line for line in proc.lines) < 2:  # both workers up (the manager's ack)
            assert time.monotonic() < deadline, proc.output
            time.sleep(0.1)
        before = proc.worker_pids()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 15
        while True:
            after = proc.worker_pids()
            # Replaced, and the new worker is serving (a third "Worker ready").
            ready = sum("Worker ready" in line for line in proc.lines)
            if len(after) == 2 and before[0] not in after and ready == 3:
                break
            assert time.monotonic() < deadline, f"worker not replaced: {after}\n{proc.output[-3000:]}"
            time.sleep(0.2)
        for _ in range(20):  # both workers answer: the kernel spreads connections over them
            response = httpx.post(url + "/chat", json={"message": "hi"}, headers={"x-api-key": API_KEY})
            assert response.status_code == 200
        wait_for_records(proc, lambda r: r["severity"] == "ERROR" and "died" in r["message"])
    assert proc.proc.returncode == 0
    assert sum("died" in line for line in proc.lines) == 1
