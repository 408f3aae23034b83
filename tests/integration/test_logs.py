"""JSON logs on stdout, and the same records shipped to a fake Cloud Logging API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import API_KEY, OLD_KEY, UPSTREAM_KEY, service_env
from tests.integration.helpers import is_access, log_records, settle, wait_for_records
from tests.processes import Process, fake_cloud_logging, service


def test_every_line_is_json_with_severity_and_the_request_id(client: httpx.Client, proc: Process) -> None:
    client.post("/chat", json={"message": "log me"}, headers={"x-request-id": "rid-json-1"})
    (access,) = wait_for_records(proc, is_access("rid-json-1"))
    for record in log_records(proc):
        assert record["severity"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert {"time", "logger", "message"} <= record.keys()
    http = access["httpRequest"]
    assert http["requestMethod"] == "POST"
    assert http["requestUrl"] == "/chat"
    assert http["status"] == 200
    assert http["latency"].endswith("s")
    assert float(http["latency"][:-1]) > 0
    assert http["userAgent"].startswith("python-httpx")
    assert http["remoteIp"] == "127.0.0.1"
    assert access["usage"]["total_tokens"] > 0


def test_no_key_or_chat_content_in_logs_by_default(
    client: httpx.Client, base_url: str, proc: Process
) -> None:
    secret_message = "my-private-question-93751"
    client.post("/chat", json={"message": secret_message})
    client.post("/chat", json={"message": "hi"}, headers={"x-api-key": "wrong-key-in-header-555"})
    settle(base_url, proc)
    for forbidden in (API_KEY, OLD_KEY, UPSTREAM_KEY, "Bearer", "wrong-key-in-header-555", secret_message):
        assert forbidden not in proc.output


@pytest.fixture(scope="module")
def chatty(upstream: str) -> Iterator[tuple[str, Process]]:
    with service(service_env(upstream, LOG_CHAT_CONTENT="true", WORKERS="1")) as running:
        yield running


def test_chat_content_is_logged_only_when_asked(chatty: tuple[str, Process]) -> None:
    url, proc = chatty
    httpx.post(url + "/chat", json={"message": "question-visible-42"}, headers={"x-api-key": API_KEY})
    (exchange,) = wait_for_records(proc, lambda r: r["message"] == "chat exchange")
    assert exchange["user_message"] == "question-visible-42"
    assert exchange["reply"] == "Echo: question-visible-42"
    assert API_KEY not in proc.output


# google-cloud-logging's HTTP transport sends LogSeverity as its number; the API takes names or numbers.
SEVERITY: dict[int | str, str] = {100: "DEBUG", 200: "INFO", 400: "WARNING", 500: "ERROR", 600: "CRITICAL"}
SEVERITY.update({name: name for name in list(SEVERITY.values())})


def wait_for_entries(endpoint: str, predicate: Any, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        entries = httpx.get(endpoint + "/_fake/entries").json()
        if predicate(entries):
            return entries
        time.sleep(0.2)
    pytest.fail(f"entries never matched: {json.dumps(entries)[:2000]}")


def test_records_are_shipped_to_cloud_logging_with_severity_and_http_request(upstream: str) -> None:
    with (
        fake_cloud_logging() as endpoint,
        service(
            service_env(
                upstream,
                GOOGLE_CLOUD_LOGGING="true",
                CLOUD_LOGGING_ENDPOINT=endpoint,
                GOOGLE_CLOUD_PROJECT="demo-project",
                LOG_NAME="chatbot-mvp",
                WORKERS="1",
            )
        ) as (url, _),
    ):
        headers = {"x-api-key": API_KEY, "x-request-id": "rid-cloud-1"}
        assert httpx.post(url + "/chat", json={"message": "hello cloud"}, headers=headers).status_code == 200
        headers["x-request-id"] = "rid-cloud-2"
        assert httpx.post(url + "/chat", json={"message": "#fault:401"}, headers=headers).status_code == 502

        def shipped(entries: list[dict[str, Any]]) -> bool:
            ids = {e.get("labels", {}).get("request_id") for e in entries}
            return {"rid-cloud-1", "rid-cloud-2"} <= ids

        entries = wait_for_entries(endpoint, shipped)
    assert all(e["logName"] == "projects/demo-project/logs/chatbot-mvp" for e in entries)
    (access,) = [e for e in entries if e["labels"].get("request_id") == "rid-cloud-1" and "httpRequest" in e]
    assert SEVERITY[access["severity"]] == "INFO"
    assert access["httpRequest"]["status"] == 200
    assert access["httpRequest"]["requestMethod"] == "POST"
    assert access["jsonPayload"]["message"] == "POST /chat 200"
    assert access["jsonPayload"]["request_id"] == "rid-cloud-1"
    fault = [
        e
        for e in entries
        if e["labels"].get("request_id") == "rid-cloud-2" and SEVERITY[e["severity"]] == "ERROR"
    ]
    assert any("upstream call failed" in e["jsonPayload"]["message"] for e in fault)
    assert any(e["jsonPayload"].get("cause") == "upstream answered HTTP 401" for e in fault)
    assert UPSTREAM_KEY not in json.dumps(entries)
    assert API_KEY not in json.dumps(entries)


@pytest.mark.parametrize("behaviour", [("--delay-s", "5"), ("--status", "500")], ids=["slow", "failing"])
def test_a_slow_or_failing_logging_api_never_slows_chat(upstream: str, behaviour: tuple[str, str]) -> None:
    with (
        fake_cloud_logging(*behaviour) as endpoint,
        service(
            service_env(upstream, GOOGLE_CLOUD_LOGGING="true", CLOUD_LOGGING_ENDPOINT=endpoint, WORKERS="1")
        ) as (url, _),
        httpx.Client(base_url=url, headers={"x-api-key": API_KEY}) as client,
    ):
        client.post("/chat", json={"message": "warm"})
        timings = []
        for i in range(20):
            started = time.perf_counter()
            assert client.post("/chat", json={"message": f"m{i}"}).status_code == 200
            timings.append(time.perf_counter() - started)
    assert max(timings) < 0.5, timings


def test_no_credentials_means_one_warning_and_stdout_only(upstream: str) -> None:
    env = service_env(upstream, GOOGLE_CLOUD_LOGGING="true", WORKERS="1")
    env["GOOGLE_APPLICATION_CREDENTIALS"] = "/nonexistent/key.json"
    with service(env) as (url, proc):
        assert (
            httpx.post(url + "/chat", json={"message": "hi"}, headers={"x-api-key": API_KEY}).status_code
            == 200
        )
        settle(url, proc)
        warnings = [
            r for r in log_records(proc) if r["severity"] == "WARNING" and "Cloud Logging off" in r["message"]
        ]
    assert len(warnings) == 1, proc.output
