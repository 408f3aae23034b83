"""Nginx's lines in Cloud Logging (the fake Logging API), shipped by the stack's edge-shipper: structured like
the chatbot's, one request id label for both, no line lost when the shipper restarts while requests go on."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.timeout(600)

Entries = list[dict[str, Any]]


def _entries(stack: Stack, match: Callable[[Entries], bool], timeout: float = 20) -> Entries:
    """The fake Logging API's entries, once `match` holds for them (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.cloud_logging_url, timeout=30) as api:
        while True:
            entries: Entries = api.get("/_fake/entries").json()
            if match(entries) or time.monotonic() > deadline:
                return entries
            time.sleep(0.5)


def _edge(entries: Entries, logger: str = "nginx.access") -> Entries:
    return [e for e in entries if e.get("jsonPayload", {}).get("logger") == logger]


def _of_request(entries: Entries, request_id: str) -> Entries:
    return [e for e in entries if e.get("labels", {}).get("request_id") == request_id]


def test_one_request_id_label_gives_the_edge_line_and_the_app_lines(stack: Stack) -> None:
    request_id = f"e2e-edge-{uuid.uuid4().hex}"
    with stack.client() as client:
        response = client.post(
            "/chat",
            # A message of its own: a reply cached from another test's would skip the model (test_logs.py).
            json={"message": f"Bonjour, ici {request_id}"},
            headers={"x-api-key": stack.api_key, "X-Request-ID": request_id},
        )
    assert response.status_code == 200

    def both(entries: Entries) -> bool:
        loggers = {e["jsonPayload"].get("logger") for e in _of_request(entries, request_id)}
        return {"nginx.access", "chatbot.access"} <= loggers

    mine = _of_request(_entries(stack, both), request_id)
    [edge] = _edge(mine)
    [app] = [e for e in mine if e["jsonPayload"].get("logger") == "chatbot.access"]
    # One log, one label: `labels.request_id="..."` in the Logs Explorer shows both.
    assert edge["logName"] == app["logName"] == "projects/chatbot-e2e/logs/chatbot-mvp"
    assert edge["severity"] == "INFO"
    http = edge["httpRequest"]
    assert http["status"] == 200
    assert http["requestMethod"] == "POST"
    assert http["requestUrl"].endswith("/chat")
    assert http["latency"].endswith("s")
    assert float(http["latency"][:-1]) >= 0
    assert edge["jsonPayload"]["message"] == "POST /chat 200"
    assert edge["jsonPayload"]["upstream"]["status"] == "200"
    # Nginx's own time of the request (to the millisecond), not the time the shipper sent it.
    stamps = [datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in (edge, app)]
    assert abs(stamps[0] - stamps[1]) < timedelta(seconds=5)
    # The address the app logged is Nginx's view of the client, the same in both entries.
    assert http["remoteIp"] == app["httpRequest"]["remoteIp"]


def test_an_nginx_error_line_arrives_with_the_severity_of_its_level(stack: Stack) -> None:
    # A worker that dies is what the error log (at `crit`) is there for; Nginx starts another one at once.
    stack.compose(
        "exec", "-T", "nginx", "sh", "-c",
        'for d in /proc/[0-9]*; do if grep -q "worker process" "$d/cmdline" 2>/dev/null; then '
        'kill -9 "${d#/proc/}"; echo "${d#/proc/}"; break; fi; done',
    )  # fmt: skip

    def alert(entries: Entries) -> bool:
        return any("exited on signal 9" in e["jsonPayload"]["message"] for e in _edge(entries, "nginx.error"))

    [line] = [
        e for e in _edge(_entries(stack, alert), "nginx.error") if "signal 9" in e["jsonPayload"]["message"]
    ]
    assert line["severity"] == "ALERT"
    assert line["logName"] == "projects/chatbot-e2e/logs/chatbot-mvp"
    # Still on the container's stderr too.
    err = stack.compose("logs", "--no-color", "--no-log-prefix", "nginx").stdout
    assert "exited on signal 9" in err
    with stack.client() as client:
        assert client.get("/healthz").status_code == 200


def test_a_shipper_restart_while_requests_go_on_loses_no_line(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    sent: list[str] = []
    stop = threading.Event()

    def visitor() -> None:
        with stack.client() as client:
            while not stop.is_set():
                request_id = f"e2e-ship-{run}-{len(sent)}"
                if client.get("/healthz", headers={"X-Request-ID": request_id}).status_code == 200:
                    sent.append(request_id)
                time.sleep(0.05)

    thread = threading.Thread(target=visitor)
    thread.start()
    try:
        time.sleep(2)
        stack.compose("kill", "-s", "SIGKILL", "edge-shipper")  # no chance to save anything
        time.sleep(2)  # lines keep coming while it is down
        stack.compose("start", "edge-shipper")
        time.sleep(3)
        stack.compose("restart", "-t", "10", "edge-shipper")  # and the polite way
        time.sleep(3)
    finally:
        stop.set()
        thread.join()
    assert len(sent) > 100

    def all_shipped(entries: Entries) -> bool:
        return {e["labels"].get("request_id") for e in _edge(entries)} >= set(sent)

    shipped = [
        e for e in _edge(_entries(stack, all_shipped, timeout=60)) if e["labels"]["request_id"] in sent
    ]
    written = stack.wait_for_log("nginx", lambda r: r.get("request_id") in sent, timeout=20)
    assert len(written) == len(sent)  # every line is also in `docker compose logs`
    assert {e["labels"]["request_id"] for e in shipped} == set(sent)
    # A line sent twice (after the kill) carries the same insertId, which Cloud Logging keeps once.
    assert len({e["insertId"] for e in shipped}) == len(sent)
    # Small files here (EDGE_LOG_MAX_BYTES=65536): rotations happened on the way.
    listing = stack.compose("exec", "-T", "nginx", "ls", "/var/log/edge").stdout.split()
    assert "access.log.1" in listing


def test_the_shipper_runs_read_only_unprivileged_and_cannot_write_the_logs(stack: Stack) -> None:
    probe = stack.compose(
        "exec", "-T", "edge-shipper", "python", "-c",
        "import os\nprint(os.getuid())\n"
        "for path in ('/var/log/edge/access.log', '/opt/venv/x'):\n"
        "    try:\n        open(path, 'a').close()\n        print('writable')\n"
        "    except OSError:\n        print('read-only')\n",
    ).stdout.split()  # fmt: skip
    assert probe == ["10001", "read-only", "read-only"]
