"""The stack under failure: the chatbot stopped, killed or recreated. Runs after the other e2e tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.timeout(600), pytest.mark.disruptive]


def _container(stack: Stack, service: str) -> str:
    return f"{stack.project}-{service}-1"


def _inspect(stack: Stack, service: str, template: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", template, _container(stack, service)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return out.stdout.strip()


def _server_pid(stack: Stack) -> int:
    """The host PID of the chatbot's main server process (`python -m chatbot`, the Sanic manager)."""
    top = subprocess.run(
        ["docker", "top", _container(stack, "chatbot"), "-eo", "pid,args"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    pids = [
        int(line.split()[0])
        for line in top.splitlines()[1:]
        if line.split()[1:] == ["python", "-m", "chatbot"]
    ]
    assert len(pids) == 1, top
    return pids[0]


def _assert_json_error(response: httpx.Response) -> None:
    assert response.status_code in (502, 503), response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"]
    assert response.headers["x-request-id"]
    assert "<html" not in response.text.lower()


def _poll_until_ok(stack: Stack, timeout: float) -> list[httpx.Response]:
    """Polls /healthz through Nginx until it answers 200; returns every answer (the last one: the 200)."""
    seen: list[httpx.Response] = []
    deadline = time.monotonic() + timeout
    with stack.client(timeout=10) as client:
        while time.monotonic() < deadline:
            response = client.get("/healthz")
            seen.append(response)
            if response.status_code == 200:
                return seen
            time.sleep(0.25)
    pytest.fail(f"the chatbot did not come back within {timeout} s: {[r.status_code for r in seen][-5:]}")


def test_nginx_answers_json_503_while_the_chatbot_is_stopped(stack: Stack) -> None:
    stack.compose("stop", "-t", "10", "chatbot")
    try:
        assert _inspect(stack, "nginx", "{{.State.Status}}") == "running"
        with stack.client(timeout=20) as client:
            started = time.monotonic()
            answers = [
                client.get("/healthz"),
                client.post("/chat", json={"message": "Bonjour"}, headers={"x-api-key": stack.api_key}),
                client.get("/api-docs"),
            ]
            elapsed = time.monotonic() - started
        for answer in answers:
            _assert_json_error(answer)
            assert answer.status_code == 503
            assert int(answer.headers["retry-after"]) > 0
        # Fails fast (proxy_connect_timeout 5 s at worst), instead of holding visitors for a minute.
        assert elapsed < 16
    finally:
        stack.compose("start", "chatbot")
    _poll_until_ok(stack, timeout=60)
    stack.wait_healthy()


def test_chatbot_comes_back_by_itself_after_its_server_process_is_killed(stack: Stack) -> None:
    restarts = int(_inspect(stack, "chatbot", "{{.RestartCount}}"))
    pid = _server_pid(stack)
    try:
        os.kill(pid, signal.SIGKILL)  # a crash, as `kill -9` on the VM would do: not `docker stop`
    except PermissionError:  # not root: the engine delivers the same SIGKILL to the container's process
        subprocess.run(["docker", "kill", "-s", "KILL", _container(stack, "chatbot")], check=True, timeout=30)
    started = time.monotonic()
    # The workers die a moment after the process they belong to: one may still answer the first poll. The
    # restart is what counts, then the service answering again.
    deadline = started + 60
    while int(_inspect(stack, "chatbot", "{{.RestartCount}}")) == restarts and time.monotonic() < deadline:
        time.sleep(0.1)
    seen = _poll_until_ok(stack, timeout=90)
    back_after = time.monotonic() - started
    # While it restarts, visitors get JSON errors from Nginx, never its HTML error page.
    for response in seen[:-1]:
        _assert_json_error(response)
    assert int(_inspect(stack, "chatbot", "{{.RestartCount}}")) == restarts + 1
    assert _server_pid(stack) != pid
    print(f"chatbot back {back_after:.1f} s after kill -9 ({len(seen) - 1} error answers meanwhile)")
    stack.wait_healthy()
    # And it serves chats again, through the same Nginx (kept-alive upstream connections re-established).
    with stack.client() as client:
        response = client.post("/chat", json={"message": "encore là ?"}, headers={"x-api-key": stack.api_key})
    assert response.status_code == 200
    assert json.loads(response.text)["reply"] == "Echo: encore là ?"


def test_nginx_follows_a_recreated_chatbot_to_its_new_address(stack: Stack) -> None:
    address = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    before = _inspect(stack, "chatbot", address)
    image = _inspect(stack, "chatbot", "{{.Config.Image}}")  # the session's tag (E2E_TAG)
    squatter = f"{stack.project}-squatter"
    stack.compose("rm", "--stop", "--force", "chatbot")
    try:
        # Another container takes the freed address, so the new chatbot gets a different one (as on a deploy).
        subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--rm",
                "--name",
                squatter,
                "--network",
                stack.network,
                "--entrypoint",
                "sleep",
                image,
                "300",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        stack.compose("up", "-d", "--no-build", "--wait", "chatbot", timeout=150)
        after = _inspect(stack, "chatbot", address)
        assert after != before
        _poll_until_ok(stack, timeout=30)
        with stack.client() as client:
            response = client.post(
                "/chat", json={"message": "nouvelle adresse"}, headers={"x-api-key": stack.api_key}
            )
        assert response.status_code == 200
    finally:
        subprocess.run(["docker", "rm", "-f", squatter], capture_output=True, timeout=60)
        stack.wait_healthy()
