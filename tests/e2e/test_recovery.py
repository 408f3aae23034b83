"""The stack under failure: the chatbot's replicas stopped, one killed, all recreated. Runs after the other
e2e tests."""

from __future__ import annotations

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


def test_a_killed_replica_comes_back_by_itself_while_the_other_serves(stack: Stack) -> None:
    """kill -9 of one replica's server process: Nginx passes what cannot reach it to the other replica (a
    refused connection is retried), and Docker restarts it. A chat Nginx had already written to the dying
    replica at that instant is not sent again (it may have been answered): at most that one fails, as JSON."""
    restarts = int(_inspect(stack, "chatbot", "{{.RestartCount}}"))
    pid = _server_pid(stack)
    answers: list[httpx.Response] = []
    with stack.client(timeout=10) as client:
        try:
            os.kill(pid, signal.SIGKILL)  # a crash, as `kill -9` on the VM would do: not `docker stop`
        except PermissionError:  # not root: the engine delivers the same SIGKILL to the container's process
            subprocess.run(
                ["docker", "kill", "-s", "KILL", _container(stack, "chatbot")], check=True, timeout=30
            )
        started = time.monotonic()
        while time.monotonic() - started < 90:
            response = client.post(
                "/chat", json={"message": f"encore là ? {len(answers)}"}, headers={"x-api-key": stack.api_key}
            )
            answers.append(response)
            if int(_inspect(stack, "chatbot", "{{.RestartCount}}")) > restarts and len(answers) >= 20:
                break
            time.sleep(0.1)
    back_after = time.monotonic() - started
    assert int(_inspect(stack, "chatbot", "{{.RestartCount}}")) == restarts + 1
    failed = [response for response in answers if response.status_code != 200]
    assert len(failed) <= 1, [r.status_code for r in answers]
    for response in failed:
        _assert_json_error(response)
    assert _server_pid(stack) != pid
    print(f"replica back within {back_after:.1f} s after kill -9; {len(answers)} chats, {len(failed)} failed")
    stack.wait_healthy()
    # And the restarted replica is back in Nginx's upstream, serving chats again.
    address = _inspect(stack, "chatbot", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
    deadline = time.monotonic() + 30
    while address not in _upstream(stack):
        assert time.monotonic() < deadline, f"Nginx did not take {address} back: {_upstream(stack)}"
        time.sleep(0.5)
    with stack.client() as client:
        response = client.post("/chat", json={"message": "encore là ?"}, headers={"x-api-key": stack.api_key})
    assert response.status_code == 200
    assert response.json()["reply"] == "Echo: encore là ?"


def _upstream(stack: Stack) -> list[str]:
    """The replicas Nginx sends requests to (nginx/follow-upstream.sh)."""
    out = subprocess.run(
        ["docker", "exec", _container(stack, "nginx"), "chatbot-upstream", "list"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return out.split()


def _replica_addresses(stack: Stack) -> set[str]:
    names = stack.compose("ps", "-q", "chatbot").stdout.split()
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    out = subprocess.run(["docker", "inspect", "-f", fmt, *names], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_nginx_follows_recreated_replicas_to_their_new_addresses(stack: Stack) -> None:
    before = _replica_addresses(stack)
    edge = _inspect(stack, "nginx", "{{.Id}} {{.State.StartedAt}}")
    image = _inspect(stack, "chatbot", "{{.Config.Image}}")  # the session's tag (E2E_TAG)
    squatters = [f"{stack.project}-squatter-{n}" for n in range(len(before))]
    stack.compose("rm", "--stop", "--force", "chatbot")
    try:
        # Other containers take the freed addresses, so the new replicas get other ones (as on a deploy).
        for squatter in squatters:
            subprocess.run(
                ["docker", "run", "-d", "--rm", "--name", squatter, "--network", stack.network,
                 "--entrypoint", "sleep", image, "300"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
        stack.compose("up", "-d", "--no-build", "--wait", "chatbot", timeout=150)
        after = _replica_addresses(stack)
        assert len(after) == len(before)
        assert not after & before
        _poll_until_ok(stack, timeout=30)
        with stack.client() as client:
            response = client.post(
                "/chat", json={"message": "nouvelle adresse"}, headers={"x-api-key": stack.api_key}
            )
        assert response.status_code == 200
        # Recreating the chatbot never restarted Nginx (its clients' connections stay open); it now sends to
        # the new replicas only.
        assert _inspect(stack, "nginx", "{{.Id}} {{.State.StartedAt}}") == edge
        deadline = time.monotonic() + 30
        while set(_upstream(stack)) != after:
            assert time.monotonic() < deadline, (_upstream(stack), after)
            time.sleep(0.5)
    finally:
        subprocess.run(["docker", "rm", "-f", *squatters], capture_output=True, timeout=60)
        stack.wait_healthy()
