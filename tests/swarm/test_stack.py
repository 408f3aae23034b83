"""deploy/swarm/stack.yaml on a one-node swarm: it serves, keeps its secrets, updates and rolls back under
load without a failed request, and replaces a killed replica.

Figures are printed and saved in test-artifacts/swarm-figures.json (docs/swarm.md quotes them).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.swarm.harness import ARTIFACTS, OPENAI_KEY, Stack, push
from tests.traffic import ChatLoad, Traffic

pytestmark = [pytest.mark.timeout(900)]

FIGURES: dict[str, object] = {}


def _save() -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "swarm-figures.json").write_text(json.dumps(FIGURES, indent=2), encoding="utf-8")


def _upstream(stack: Stack) -> list[str]:
    [edge] = stack.tasks("nginx")
    return sorted(stack.docker("exec", edge, "chatbot-upstream", "list").split())


def _task_addresses(stack: Stack) -> list[str]:
    fmt = "{{range $name, $net := .NetworkSettings.Networks}}{{$name}}={{$net.IPAddress}} {{end}}"
    addresses = []
    for container in stack.tasks("chatbot"):
        for pair in stack.docker("inspect", "-f", fmt, container).split():
            network, address = pair.split("=")
            if network.endswith("_default"):
                addresses.append(address)
    return sorted(addresses)


def _wait_followed(stack: Stack, timeout: float = 30) -> None:
    """Nginx's upstream lists exactly the running tasks."""
    deadline = time.monotonic() + timeout
    while _upstream(stack) != _task_addresses(stack):
        assert time.monotonic() < deadline, (_upstream(stack), _task_addresses(stack))
        time.sleep(0.5)


def test_the_stack_serves_chats_and_keeps_its_secrets(stack: Stack) -> None:
    with stack.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        # The OpenAI key reached the service through its Swarm secret: the model answers (the fake echoes).
        assert client.get("/readyz").json()["provider"] == "openai"
        answer = client.post("/chat", json={"message": "bonjour swarm"}, headers={"x-api-key": stack.api_key})
        assert answer.status_code == 200, answer.text
        assert "bonjour swarm" in answer.json()["reply"]
        denied = client.post("/chat", json={"message": "x"}, headers={"x-api-key": "wrong"})
        assert denied.status_code == 401
    # Two replicas, each in Nginx's upstream (found by DNS: tasks.chatbot).
    assert len(stack.tasks("chatbot")) == 2
    _wait_followed(stack)
    # The values are in no definition, container configuration or log line.
    seen = json.dumps(stack.service("chatbot"))
    seen += stack.docker("inspect", *stack.tasks("chatbot"))
    seen += stack.logs()
    for value in (stack.api_key, OPENAI_KEY):
        assert value not in seen


def test_a_rolling_update_under_load_fails_no_request(stack: Stack) -> None:
    tag, registry = stack.variables["TAG"], stack.variables["REGISTRY"]
    new = f"{tag}-swarm-update"
    push(f"local/chatbot:{tag}", f"{registry}/chatbot:{new}")
    edge = stack.tasks("nginx")
    before = set(stack.tasks("chatbot"))
    since = stack.update_started("chatbot")
    started = time.monotonic()
    with Traffic(stack) as traffic:
        # A new image for the chatbot (Nginx's stays): what a release does.
        deployed = stack.deploy(TAG=new)
        assert deployed.returncode == 0, deployed.stderr
        assert stack.wait_update("chatbot", since) == "completed"
    seconds = time.monotonic() - started
    traffic.assert_all_served()
    stack.wait_converged("chatbot", 2)
    assert not before & set(stack.tasks("chatbot")), "every task was replaced"
    image = stack.service("chatbot")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.split("@")[0] == f"{registry}/chatbot:{new}"
    assert stack.tasks("nginx") == edge, "Nginx kept running"
    _wait_followed(stack)
    FIGURES["rolling update under load"] = {**traffic.figures(), "seconds": round(seconds, 1)}
    _save()


def test_a_failing_update_is_rolled_back_under_load(stack: Stack) -> None:
    before = set(stack.tasks("chatbot"))
    since = stack.update_started("chatbot")
    started = time.monotonic()
    with Traffic(stack) as traffic:
        # A setting the service refuses at start (exit 2): the new task never becomes healthy.
        stack.write_settings(OPENAI_TEMPERATURE="hot")
        deployed = stack.deploy()
        assert deployed.returncode == 0, deployed.stderr
        assert stack.wait_update("chatbot", since) == "rollback_completed"
    seconds = time.monotonic() - started
    traffic.assert_all_served()
    stack.wait_converged("chatbot", 2)
    env = stack.service("chatbot")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "OPENAI_TEMPERATURE=hot" not in env
    # start-first: the running tasks were never stopped.
    assert set(stack.tasks("chatbot")) == before
    FIGURES["failed update rolled back under load"] = {**traffic.figures(), "seconds": round(seconds, 1)}
    _save()


def test_a_killed_replica_is_replaced_under_load(stack: Stack) -> None:
    victim = stack.tasks("chatbot")[0]
    with ChatLoad(stack, {"a": stack.api_key, "b": stack.api_key}) as load:
        time.sleep(1)
        killed = time.monotonic()
        stack.docker("kill", victim)
        stack.wait_converged("chatbot", 2, timeout=120)
        replaced = time.monotonic() - killed
        _wait_followed(stack)
        time.sleep(1)
    tallies = list(load.tallies.values())
    failed = sum(t.failed for t in tallies)
    assert victim not in stack.tasks("chatbot")
    assert sum(t.ok for t in tallies) > 0
    # Nginx passes what cannot reach the dead task to the other one; only a chat in flight on it at the moment
    # of the kill can fail (it is never sent twice).
    assert failed <= 2, [e for t in tallies for e in t.errors]
    FIGURES["replica killed under load"] = {
        "chats answered": sum(t.ok for t in tallies),
        "chats failed": failed,
        "seconds until a healthy replacement": round(replaced, 1),
    }
    _save()
