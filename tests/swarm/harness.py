"""Swarm test harness: a one-node swarm on this engine, and deploy/swarm/stack.yaml deployed on it for real.

The swarm is created for the module and left at its end (`docker swarm leave --force`), with everything the
stack made; a swarm that was already active on the engine is never touched (the tests are skipped, or fail in
CI). Plain compose stacks on the same engine keep working meanwhile: they use local bridge networks.

Two things differ from a production swarm, both because this is a shared test machine: Swarm can publish
ports only on every interface (`mode: host` takes no address), so the generated copy of the stack leaves
Nginx's two published ports out and the tests reach Nginx on its address on docker_gwbridge (the tasks' own
bridge) instead; and a fake OpenAI service is added (tests/fakes mounted into the chatbot image), as in the
compose tests.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from tests.processes import free_port

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STACK_FILE = REPO / "deploy/swarm/stack.yaml"
STACK = "chatbot-swarm-test"
OPENAI_KEY = "sk-swarm-test"


def run(cmd: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, env={**os.environ, **env}
    )


def must(cmd: list[str], timeout: float = 120, **env: str) -> str:
    done = run(cmd, timeout, **env)
    assert done.returncode == 0, f"{' '.join(cmd[:4])}...: {done.stderr[-3000:]}"
    return done.stdout


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"swarm tests cannot run in CI: {reason}")
    pytest.skip(f"swarm tests skipped: {reason}")


def swarm_state() -> str:
    done = run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], 30)
    if done.returncode != 0:
        unavailable("no Docker engine answers")
    return done.stdout.strip()


def init_swarm() -> None:
    """A one-node swarm whose manager listens on loopback only."""
    state = swarm_state()
    if state != "inactive":
        unavailable(
            f"this engine is already part of a swarm ({state}); the tests never touch one they did not make"
        )
    port = free_port()
    must(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{port}"])


def leave_swarm() -> None:
    run(["docker", "stack", "rm", STACK], 60)
    deadline = time.monotonic() + 60
    while run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}"], 30
    ).stdout.strip():
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    run(["docker", "swarm", "leave", "--force"], 60)
    run(["docker", "volume", "rm", f"{STACK}_redis-data"], 30)
    # Swarm's bridge for its tasks' outbound traffic outlives the swarm; nothing else uses it.
    run(["docker", "network", "rm", "docker_gwbridge"], 30)


@dataclass
class Stack:
    """The deployed stack: its generated file, variables, and an HTTPS client on its Nginx."""

    folder: Path
    variables: dict[str, str]
    api_key: str
    ca_file: Path
    address: str = ""
    settings: dict[str, str] = field(default_factory=dict)

    def deploy(self, **changes: str) -> subprocess.CompletedProcess[str]:
        """`docker stack deploy` with the variables (plus `changes`), as an operator runs it."""
        self.variables.update(changes)
        env = {**os.environ, **self.variables}
        command = [
            "docker",
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            str(self.folder / "stack.yaml"),
        ]
        return subprocess.run(
            [*command, STACK],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
            cwd=self.folder,
        )

    def write_settings(self, **changes: str) -> None:
        self.settings.update(changes)
        text = "".join(f"{k}={v}\n" for k, v in self.settings.items())
        (self.folder / "chatbot.env").write_text(text, encoding="utf-8")

    def client(self) -> httpx.Client:
        # The chain is checked against the stack's own certificate; the name is not: Nginx is reached on its
        # bridge address, which the certificate (made before the deploy) cannot name.
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = False
        return httpx.Client(base_url=f"https://{self.address}", verify=context, timeout=30)

    def service(self, name: str) -> dict[str, Any]:
        [found] = json.loads(must(["docker", "service", "inspect", f"{STACK}_{name}"]))
        return dict(found)

    def tasks(self, name: str) -> list[str]:
        """Containers of the service's running tasks."""
        out = must(["docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{name}"])
        return out.split()

    def wait_converged(self, name: str, replicas: int, timeout: float = 180) -> None:
        """The service runs `replicas` healthy tasks of its current definition, and no update is under way."""
        deadline = time.monotonic() + timeout
        while True:
            spec = self.service(name)
            state = (spec.get("UpdateStatus") or {}).get("State", "completed")
            healthy = [c for c in self.tasks(name) if _health(c) == "healthy"]
            steady = state not in {"updating", "rollback_started"}
            if steady and len(healthy) == replicas == len(self.tasks(name)):
                return
            if time.monotonic() > deadline:
                logs = run(["docker", "service", "ps", "--no-trunc", f"{STACK}_{name}"], 30).stdout
                pytest.fail(f"{name}: not {replicas} healthy tasks after {timeout} s ({state}):\n{logs}")
            time.sleep(1)

    def update_started(self, name: str) -> str:
        """When the service's last update started ("" before any): what wait_update waits to change."""
        return str((self.service(name).get("UpdateStatus") or {}).get("StartedAt", ""))

    def wait_update(self, name: str, since: str, timeout: float = 300) -> str:
        """Waits for an update started after `since` to end; returns its final state (completed,
        rollback_completed, paused...)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.service(name).get("UpdateStatus") or {}
            if status.get("StartedAt", "") != since and status.get("State") in {
                "completed",
                "rollback_completed",
                "paused",
                "rollback_paused",
            }:
                return str(status["State"])
            time.sleep(1)
        pytest.fail(f"{name}: the update did not end within {timeout} s")

    def find_nginx(self) -> None:
        """Nginx's address on docker_gwbridge, once it answers."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for container in self.tasks("nginx"):
                # A task's endpoint on docker_gwbridge is listed by the network, not by the container.
                full = must(["docker", "inspect", "-f", "{{.Id}}", container]).strip()
                fmt = f'{{{{with index .Containers "{full}"}}}}{{{{.IPv4Address}}}}{{{{end}}}}'
                self.address = must(["docker", "network", "inspect", "-f", fmt, "docker_gwbridge"]).split(
                    "/"
                )[0]
                if self.address and _answers(self):
                    return
            time.sleep(1)
        pytest.fail("Nginx of the stack does not answer on docker_gwbridge")


def stack_logs() -> str:
    """Every container's log, with timestamps (`docker service logs` can hang once tasks are gone)."""
    listed = run(
        [
            "docker",
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=com.docker.stack.namespace={STACK}",
        ]
    )
    out = []
    for name in listed.stdout.split():
        done = run(["docker", "logs", "--timestamps", name], 60)
        out.append(f"--- {name}\n{done.stdout}{done.stderr}")
    return "\n".join(out)


def _health(container: str) -> str:
    return run(["docker", "inspect", "-f", "{{.State.Health.Status}}", container], 30).stdout.strip()


def _answers(stack: Stack) -> bool:
    try:
        with stack.client() as client:
            return client.get("/healthz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def stack_file(image_tag: str, fakes: Path) -> dict[str, Any]:
    """deploy/swarm/stack.yaml as shipped, its paths made absolute, without Nginx's published ports (see the
    module's docstring), plus the fake OpenAI."""
    doc: dict[str, Any] = yaml.safe_load(STACK_FILE.read_text(encoding="utf-8"))
    ports = doc["services"]["nginx"].pop("ports")
    assert all(p["mode"] == "host" for p in ports), "Nginx publishes on each node itself"
    doc["configs"]["entrypoint"]["file"] = str(STACK_FILE.parent / "entrypoint.sh")
    doc["services"]["fake-openai"] = {
        "image": f"local/chatbot:{image_tag}",
        "entrypoint": ["python", "/fakes/openai_server.py"],
        "command": ["--host", "0.0.0.0", "--port", "8081", "--api-key", OPENAI_KEY],
        "volumes": [{"type": "bind", "source": str(fakes), "target": "/fakes", "read_only": True}],
        # The image's own healthcheck is the chatbot's (port 3000).
        "healthcheck": {
            "test": [
                "CMD",
                "python",
                "-c",
                "import urllib.request as u; u.urlopen('http://127.0.0.1:8081/_fake/health')",
            ],
            "interval": "2s",
        },
        "deploy": {"replicas": 1, "endpoint_mode": "dnsrr"},
    }
    return doc


def create_secrets(api_key: str, cert_dir: Path) -> None:
    """What docs/swarm.md has an operator do once: the secrets and the certificate chain, version 1."""
    for name, value in (
        ("chatbot-api-key-1", api_key.encode()),
        ("chatbot-openai-api-key-1", OPENAI_KEY.encode()),
        ("chatbot-tls-key-1", (cert_dir / "privkey.pem").read_bytes()),
    ):
        done = subprocess.run(
            ["docker", "secret", "create", name, "-"],
            input=value,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    must(["docker", "config", "create", "chatbot-tls-chain-1", str(cert_dir / "fullchain.pem")])


def new_api_key() -> str:
    return secrets.token_hex(24)
