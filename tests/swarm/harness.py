"""Swarm test harness: deploy/swarm/stack.yaml deployed for real on a one-node swarm of the tests' own engine
(engine.py), its images pushed to the local registry and pulled from there, as a swarm's nodes do.

One difference from a production swarm, because this is a shared test machine: Swarm can publish ports only
on every interface (`mode: host` takes no address), so the generated copy of the stack leaves Nginx's two
published ports out, and the tests reach Nginx on its address on docker_gwbridge (the tasks' own bridge)
instead. A fake OpenAI service is added (tests/fakes mounted into the chatbot image), as in the compose tests.
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

from tests.swarm.engine import Engine

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STACK_FILE = REPO / "deploy/swarm/stack.yaml"
STACK = "chatbot-swarm-test"
OPENAI_KEY = "sk-swarm-test"
REGISTRY_HOST = "127.0.0.1:5000"


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"swarm tests cannot run in CI: {reason}")
    pytest.skip(f"swarm tests skipped: {reason}")


def must(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{' '.join(map(str, done.args[:4]))}...: {done.stderr[-3000:]}"
    return done.stdout


def push(local: str, remote: str) -> None:
    """An image of the machine's engine, pushed to the local registry (where the tests' engine pulls it)."""
    for cmd in (["docker", "tag", local, remote], ["docker", "push", "--quiet", remote]):
        must(subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False))


@dataclass
class Stack:
    """The deployed stack: its engine, generated file, variables, and an HTTPS client on its Nginx."""

    engine: Engine
    folder: Path
    variables: dict[str, str]
    api_key: str
    ca_file: Path
    address: str = ""
    settings: dict[str, str] = field(default_factory=dict)

    def docker(self, *args: str, timeout: float = 120) -> str:
        return must(self.engine.docker(*args, timeout=timeout))

    def deploy(self, **changes: str) -> subprocess.CompletedProcess[str]:
        """`docker stack deploy` with the variables (plus `changes`), as an operator runs it."""
        self.variables.update(changes)
        command = ["docker", "stack", "deploy", "--with-registry-auth", "-c", str(self.folder / "stack.yaml")]
        return subprocess.run(
            [*command, STACK], capture_output=True, text=True, timeout=300, check=False,
            env={**self.engine.env(), **self.variables}, cwd=self.folder,
        )  # fmt: skip

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
        [found] = json.loads(self.docker("service", "inspect", f"{STACK}_{name}"))
        return dict(found)

    def tasks(self, name: str) -> list[str]:
        """Containers of the service's running tasks."""
        return self.docker(
            "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{name}"
        ).split()

    def health(self, container: str) -> str:
        return self.engine.docker(
            "inspect", "-f", "{{.State.Health.Status}}", container, timeout=30
        ).stdout.strip()

    def wait_converged(self, name: str, replicas: int, timeout: float = 180) -> None:
        """The service runs `replicas` healthy tasks of its current definition, and no update is under way."""
        deadline = time.monotonic() + timeout
        while True:
            state = (self.service(name).get("UpdateStatus") or {}).get("State", "completed")
            tasks = self.tasks(name)
            healthy = [c for c in tasks if self.health(c) == "healthy"]
            if state not in {"updating", "rollback_started"} and len(healthy) == replicas == len(tasks):
                return
            if time.monotonic() > deadline:
                listing = self.engine.docker("service", "ps", "--no-trunc", f"{STACK}_{name}").stdout
                pytest.fail(f"{name}: not {replicas} healthy tasks after {timeout} s ({state}):\n{listing}")
            time.sleep(1)

    def update_started(self, name: str) -> str:
        """When the service's last update started ("" before any): what wait_update waits to change."""
        return str((self.service(name).get("UpdateStatus") or {}).get("StartedAt", ""))

    def wait_update(self, name: str, since: str, timeout: float = 300) -> str:
        """Waits for an update started after `since` to end; returns its final state (completed,
        rollback_completed, paused...)."""
        ended = {"completed", "rollback_completed", "paused", "rollback_paused"}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.service(name).get("UpdateStatus") or {}
            if status.get("StartedAt", "") != since and status.get("State") in ended:
                return str(status["State"])
            time.sleep(1)
        pytest.fail(f"{name}: the update did not end within {timeout} s")

    def find_nginx(self) -> None:
        """Nginx's address on docker_gwbridge, once it answers."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for container in self.tasks("nginx"):
                # A task's endpoint on docker_gwbridge is listed by the network, not by the container.
                full = self.docker("inspect", "-f", "{{.Id}}", container).strip()
                fmt = f'{{{{with index .Containers "{full}"}}}}{{{{.IPv4Address}}}}{{{{end}}}}'
                self.address = self.docker("network", "inspect", "-f", fmt, "docker_gwbridge").split("/")[0]
                if self.address and _answers(self):
                    return
            time.sleep(1)
        pytest.fail("Nginx of the stack does not answer on docker_gwbridge")

    def logs(self) -> str:
        """Every task container's log, with timestamps (`docker service logs` hangs once tasks are gone)."""
        listed = self.engine.docker("ps", "-a", "--format", "{{.Names}}", timeout=30).stdout.split()
        out = []
        for name in listed:
            done = self.engine.docker("logs", "--timestamps", name, timeout=60)
            out.append(f"--- {name}\n{done.stdout}{done.stderr}")
        return "\n".join(out)


def _answers(stack: Stack) -> bool:
    try:
        with stack.client() as client:
            return client.get("/healthz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def stack_file(registry: str, tag: str, fakes: Path) -> dict[str, Any]:
    """deploy/swarm/stack.yaml as shipped, its paths made absolute, without Nginx's published ports (see the
    module's docstring), plus the fake OpenAI."""
    doc: dict[str, Any] = yaml.safe_load(STACK_FILE.read_text(encoding="utf-8"))
    ports = doc["services"]["nginx"].pop("ports")
    assert all(p["mode"] == "host" for p in ports), "Nginx publishes on each node itself"
    doc["configs"]["entrypoint"]["file"] = str(STACK_FILE.parent / "entrypoint.sh")
    probe = "import urllib.request as u; u.urlopen('http://127.0.0.1:8081/_fake/health')"
    doc["services"]["fake-openai"] = {
        "image": f"{registry}/chatbot:{tag}",
        "entrypoint": ["python", "/fakes/openai_server.py"],
        "command": ["--host", "0.0.0.0", "--port", "8081", "--api-key", OPENAI_KEY],
        "volumes": [{"type": "bind", "source": str(fakes), "target": "/fakes", "read_only": True}],
        # The image's own healthcheck is the chatbot's (port 3000).
        "healthcheck": {"test": ["CMD", "python", "-c", probe], "interval": "2s"},
        "deploy": {"replicas": 1, "endpoint_mode": "dnsrr"},
    }
    return doc


def create_secrets(engine: Engine, api_key: str, cert_dir: Path) -> None:
    """What docs/swarm.md has an operator do once: the secrets and the certificate chain, version 1."""
    for name, value in (
        ("chatbot-api-key-1", api_key.encode()),
        ("chatbot-openai-api-key-1", OPENAI_KEY.encode()),
        ("chatbot-tls-key-1", (cert_dir / "privkey.pem").read_bytes()),
    ):
        done = engine.docker("secret", "create", name, "-", input=value)
        assert done.returncode == 0, done.stderr
    must(engine.docker("config", "create", "chatbot-tls-chain-1", str(cert_dir / "fullchain.pem")))


def delete_from_registry(name: str) -> None:
    """The images the tests pushed under REGISTRY_HOST/name (their manifests; the registry has no GC here)."""
    accept = (
        "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    )
    with httpx.Client(base_url=f"http://{REGISTRY_HOST}/v2/{name}", timeout=10) as client:
        for image in ("chatbot", "chatbot-nginx", "redis"):
            listing = client.get(f"/{image}/tags/list")
            for tag in (listing.json().get("tags") or []) if listing.status_code == 200 else []:
                digest = client.head(f"/{image}/manifests/{tag}", headers={"Accept": accept}).headers.get(
                    "Docker-Content-Digest"
                )
                if digest:
                    client.delete(f"/{image}/manifests/{digest}")


def new_api_key() -> str:
    return secrets.token_hex(24)
