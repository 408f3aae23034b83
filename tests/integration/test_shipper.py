"""The edge log shipper as a process (`python -m chatbot.shipper`) against the fake Cloud Logging API: lines
written to Nginx's files arrive as structured entries, none lost to a kill, a rotation or an API outage."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import FAKES, Process, base_env, fake_cloud_logging, free_port

pytestmark = pytest.mark.timeout(120)


def _access(request_id: str, status: int = 200) -> str:
    return json.dumps(
        {
            "time": "2026-11-25T17:22:46.123+00:00",
            "severity": "ERROR" if status >= 500 else "INFO",
            "logger": "nginx.access",
            "message": f"GET /healthz {status}",
            "request_id": request_id,
            "httpRequest": {
                "requestMethod": "GET",
                "requestUrl": "/healthz",
                "status": status,
                "latency": "0.001s",
            },
        }
    )


class Edge:
    """Nginx's side (two files, renamed on rotation) and the shipper processes started on them."""

    def __init__(self, root: Path, endpoint: str) -> None:
        self.logs = root / "logs"
        self.state = root / "state"
        self.logs.mkdir()
        self.state.mkdir()
        self.env = {
            **base_env(),
            "GOOGLE_CLOUD_LOGGING": "true",
            "CLOUD_LOGGING_ENDPOINT": endpoint,
            "GOOGLE_CLOUD_PROJECT": "edge-test",
            "EDGE_LOG_DIR": str(self.logs),
            "SHIPPER_STATE_DIR": str(self.state),
            "SHIPPER_HEARTBEAT_FILE": str(root / "heartbeat"),
            "SHIPPER_POLL_SECONDS": "0.1",
        }
        self.lock = threading.Lock()

    def write(self, name: str, line: str) -> None:
        with self.lock, (self.logs / name).open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def rotate(self, name: str) -> None:
        with self.lock:
            os.replace(self.logs / name, self.logs / f"{name}.1")

    def shipper(self, **env: str) -> Process:
        return Process([sys.executable, "-m", "chatbot.shipper"], {**self.env, **env}, cwd=self.logs)


@pytest.fixture
def api() -> Iterator[str]:
    with fake_cloud_logging() as url:
        yield url


def _entries(api: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{api}/_fake/entries", timeout=10).json())


def _wait_for(
    api: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 20
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        entries = _entries(api)
        if done(entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.2)


def _request_ids(entries: list[dict[str, Any]]) -> set[str]:
    return {e["labels"]["request_id"] for e in entries if "request_id" in e.get("labels", {})}


def test_access_and_error_lines_arrive_as_structured_entries(tmp_path: Path, api: str) -> None:
    edge = Edge(tmp_path, api)
    proc = edge.shipper()
    try:
        edge.write("access.log", _access("rid-ok"))
        edge.write("access.log", _access("rid-fail", 503))
        edge.write("error.log", "2026/11/25 17:22:47 [alert] 1#1: worker process 35 exited on signal 9")
        entries = _wait_for(api, lambda found: len(found) >= 3)
    finally:
        assert proc.stop() == 0, proc.output
    by_message = {e["jsonPayload"]["message"]: e for e in entries}
    ok, fail = by_message["GET /healthz 200"], by_message["GET /healthz 503"]
    assert ok["logName"] == "projects/edge-test/logs/chatbot-mvp"
    assert ok["labels"] == {"request_id": "rid-ok"}
    assert ok["severity"] == "INFO"
    assert ok["httpRequest"]["status"] == 200
    assert ok["timestamp"].startswith("2026-11-25T17:22:46.123")
    assert ok["jsonPayload"]["logger"] == "nginx.access"
    assert fail["severity"] == "ERROR"
    alert = by_message["worker process 35 exited on signal 9"]
    assert alert["severity"] == "ALERT"
    assert alert["jsonPayload"]["logger"] == "nginx.error"


def test_nothing_is_lost_across_kills_and_rotations_while_lines_keep_coming(tmp_path: Path, api: str) -> None:
    edge = Edge(tmp_path, api)
    written: list[str] = []
    stop = threading.Event()

    def nginx() -> None:
        while not stop.is_set():
            request_id = f"rid-{len(written)}"
            edge.write("access.log", _access(request_id))
            written.append(request_id)
            time.sleep(0.002)

    writer = threading.Thread(target=nginx)
    writer.start()
    try:
        for _ in range(3):
            proc = edge.shipper()
            time.sleep(1.5)
            edge.rotate("access.log")  # while it ships: it finishes the renamed file first
            time.sleep(0.5)
            os.killpg(proc.proc.pid, signal.SIGKILL)  # no chance to save anything: a crash, an OOM kill
            proc.stop()
            edge.rotate("access.log")  # while it is down
            time.sleep(0.3)
    finally:
        stop.set()
        writer.join()
    proc = edge.shipper()
    try:
        entries = _wait_for(api, lambda found: _request_ids(found) >= set(written), timeout=30)
    finally:
        proc.stop()
    assert len(written) > 500
    assert set(written) - _request_ids(entries) == set()
    # A line sent again after a kill carries the same insertId: Cloud Logging keeps one of them.
    by_id: dict[str, set[str]] = {}
    for entry in entries:
        by_id.setdefault(entry["labels"]["request_id"], set()).add(entry["insertId"])
    assert all(len(ids) == 1 for ids in by_id.values())


def test_lines_written_while_the_api_is_down_are_sent_once_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    edge = Edge(tmp_path, f"http://127.0.0.1:{port}")
    proc = edge.shipper()
    try:
        for i in range(20):
            edge.write("access.log", _access(f"rid-outage-{i}"))
        proc.wait_for_output("Cloud Logging write failed", timeout=10)
        fake = Process([sys.executable, str(FAKES / "cloud_logging.py"), "--port", str(port)], base_env())
        try:
            api = f"http://127.0.0.1:{port}"
            fake.wait_http(f"{api}/_fake/entries")
            entries = _wait_for(api, lambda found: len(found) >= 20)
        finally:
            fake.stop()
    finally:
        proc.stop()
    assert _request_ids(entries) == {f"rid-outage-{i}" for i in range(20)}


def test_it_idles_when_cloud_logging_is_off(tmp_path: Path, api: str) -> None:
    edge = Edge(tmp_path, api)
    proc = edge.shipper(GOOGLE_CLOUD_LOGGING="false")
    try:
        edge.write("access.log", _access("rid-not-shipped"))
        proc.wait_for_output("edge logs not shipped (Cloud Logging is off)", timeout=10)
        time.sleep(1)
        assert proc.proc.poll() is None  # up, so that `restart: unless-stopped` does not loop
    finally:
        assert proc.stop() == 0
    assert _entries(api) == []
