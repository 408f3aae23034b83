"""Logs of the stack: JSON lines, and one request id shared by Nginx, the chatbot and the client."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.timeout(600)


def _access_lines(stack: Stack, service: str, request_id: str) -> list[dict[str, object]]:
    return stack.wait_for_log(service, lambda r: r.get("request_id") == request_id and "httpRequest" in r)


def test_client_request_id_is_kept_and_logged_by_nginx_and_the_chatbot(
    stack: Stack, fake_openai: httpx.Client
) -> None:
    request_id = f"e2e-{uuid.uuid4()}"
    with stack.client() as client:
        response = client.post(
            "/chat",
            json={"message": "Bonjour"},
            headers={"x-api-key": stack.api_key, "X-Request-ID": request_id},
        )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id
    [nginx] = _access_lines(stack, "nginx", request_id)
    chatbot = _access_lines(stack, "chatbot", request_id)
    assert nginx["severity"] == "INFO"
    assert nginx["httpRequest"]["status"] == 200  # type: ignore[index]
    assert [line["httpRequest"]["status"] for line in chatbot] == [200]  # type: ignore[index]
    # The id went on upstream too, so that a slow answer can be traced to the model's side.
    [upstream] = fake_openai.get("/_fake/requests").json()
    assert upstream["headers"].get("X-Client-Request-Id") == request_id


def test_nginx_creates_the_id_when_the_client_sends_none_or_garbage(stack: Stack) -> None:
    with stack.client() as client:
        plain = client.get("/healthz")
        garbage = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    for response in (plain, garbage):
        request_id = response.headers["x-request-id"]
        # Nginx's $request_id: 32 hex digits, shared with the chatbot's log.
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
        assert _access_lines(stack, "nginx", request_id)
        assert _access_lines(stack, "chatbot", request_id)


def test_forwarded_client_address_is_nginx_view_not_a_spoofed_header(stack: Stack) -> None:
    request_id = f"e2e-xff-{uuid.uuid4().hex}"
    with stack.client() as client:
        client.get("/healthz", headers={"X-Request-ID": request_id, "X-Forwarded-For": "203.0.113.66"})
    [nginx] = _access_lines(stack, "nginx", request_id)
    [chatbot] = _access_lines(stack, "chatbot", request_id)
    seen_by_nginx = nginx["httpRequest"]["remoteIp"]  # type: ignore[index]
    # PROXIES_COUNT=1: the chatbot takes the address Nginx appended, not the one the client wrote.
    assert chatbot["httpRequest"]["remoteIp"] == seen_by_nginx  # type: ignore[index]
    assert seen_by_nginx != "203.0.113.66"


def test_every_log_line_is_a_json_object(stack: Stack) -> None:
    for service in ("nginx", "chatbot"):
        out = stack.compose("logs", "--no-color", "--no-log-prefix", service).stdout
        lines = [line for line in out.splitlines() if line.strip()]
        assert lines
        parsed = stack.logs(service)
        if service == "nginx":
            # Nginx's startup notices go to stderr as text; every access line (stdout) is JSON.
            assert all(r.get("logger") == "nginx.access" for r in parsed)
            assert any("httpRequest" in r for r in parsed)
        else:
            assert len(parsed) == len(lines), [line for line in lines if not line.startswith("{")][:3]
            assert all({"severity", "message"} <= set(r) for r in parsed)


def test_the_chatbot_ships_its_records_to_cloud_logging_from_the_container(stack: Stack) -> None:
    request_id = f"e2e-cloud-{uuid.uuid4().hex}"
    with stack.client() as client:
        response = client.post(
            "/chat",
            json={"message": "Bonjour"},
            headers={"x-api-key": stack.api_key, "X-Request-ID": request_id},
        )
    assert response.status_code == 200
    deadline = time.monotonic() + 15
    with httpx.Client(base_url=stack.cloud_logging_url, timeout=10) as logging_api:
        while True:
            entries = [
                e
                for e in logging_api.get("/_fake/entries").json()
                if e.get("labels", {}).get("request_id") == request_id
            ]
            if entries or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    [access] = [e for e in entries if "httpRequest" in e]
    assert access["logName"] == "projects/chatbot-e2e/logs/chatbot-mvp"
    assert access["severity"] in ("INFO", 200)  # LogSeverity: the name, or its number as the library sends it
    assert access["httpRequest"]["status"] == 200
    # The address Nginx saw, as on stdout: the forwarded headers are trusted the same way.
    [stdout_line] = _access_lines(stack, "chatbot", request_id)
    assert access["httpRequest"]["remoteIp"] == stdout_line["httpRequest"]["remoteIp"]  # type: ignore[index]
