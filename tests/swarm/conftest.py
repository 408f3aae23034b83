"""The stack on Docker Swarm, deployed for real on a one-node swarm of the tests' own engine (engine.py)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.swarm import engine as engines
from tests.swarm.harness import (
    ARTIFACTS,
    REGISTRY_HOST,
    REPO,
    Stack,
    create_secrets,
    delete_from_registry,
    must,
    new_api_key,
    push,
    stack_file,
    unavailable,
)


def _base(var: str, standin: str, official: str) -> str:
    if os.environ.get(var):
        return os.environ[var]
    found = subprocess.run(
        ["docker", "image", "inspect", standin], capture_output=True, timeout=30, check=False
    )
    return standin if found.returncode == 0 else official


def _build(tag: str) -> None:
    """The two images on the machine's engine, as compose.yaml builds them (quick after the other tests)."""
    python = _base("PYTHON_IMAGE", "local/python:3.13-slim", "python:3.13-slim")
    nginx = _base("NGINX_IMAGE", "local/nginx:stable", "nginx:stable")
    for cmd in (
        ["docker", "build", "-q", "-f", "chatbot/Dockerfile", "--build-arg", f"PYTHON_IMAGE={python}",
         "-t", f"local/chatbot:{tag}", str(REPO)],
        ["docker", "build", "-q", "--build-arg", f"NGINX_IMAGE={nginx}", "-t", f"local/chatbot-nginx:{tag}",
         str(REPO / "nginx")],
    ):  # fmt: skip
        must(subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, cwd=REPO))


def _preconditions() -> None:
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False).returncode != 0:
        unavailable("no Docker engine answers")
    try:
        httpx.get(f"http://{REGISTRY_HOST}/v2/", timeout=5).raise_for_status()
    except httpx.HTTPError:
        unavailable(f"no registry on {REGISTRY_HOST} (docker-sandbox registry)")
    if os.geteuid() != 0:
        unavailable("a second dockerd needs root")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _preconditions()
    tag = os.environ.get("E2E_TAG", "e2e")
    name = f"swarm-test-{uuid.uuid4().hex[:8]}"
    registry = f"{REGISTRY_HOST}/{name}"
    _build(tag)
    for local, remote in (
        (f"local/chatbot:{tag}", f"{registry}/chatbot:{tag}"),
        (f"local/chatbot-nginx:{tag}", f"{registry}/chatbot-nginx:{tag}"),
        (_base("REDIS_IMAGE", "local/redis:7", "redis:7-alpine"), f"{registry}/redis:7"),
    ):
        push(local, remote)
    folder = tmp_path_factory.mktemp("swarm")
    cert_dir = folder / "certs"
    certs = {**os.environ, "CERT_DIR": str(cert_dir), "CERT_HOSTS": "localhost"}
    must(
        subprocess.run(
            [str(REPO / "scripts/certs.sh")], env=certs, capture_output=True, text=True, check=False
        )
    )
    (folder / "stack.yaml").write_text(
        json.dumps(stack_file(registry, tag, REPO / "tests/fakes"), indent=2), "utf-8"
    )
    try:
        engine = engines.start()
    except RuntimeError as error:
        delete_from_registry(name)
        unavailable(str(error))
    stack: Stack | None = None
    try:
        engines.init_swarm(engine)
        api_key = new_api_key()
        create_secrets(engine, api_key, cert_dir)
        stack = Stack(
            engine=engine,
            folder=folder,
            variables={
                "REGISTRY": registry,
                "TAG": tag,
                "NGINX_TAG": tag,
                "REDIS_IMAGE": f"{registry}/redis:7",
                "CHATBOT_SETTINGS": str(folder / "chatbot.env"),
                "FAQ_PATH": str(REPO / "faq/faq.md"),
                "HTTP_PORT": "80",
                "HTTPS_PORT": "443",
            },
            api_key=api_key,
            ca_file=cert_dir / "fullchain.pem",
        )
        stack.write_settings(
            OPENAI_BASE_URL="http://fake-openai:8081/v1",
            GOOGLE_CLOUD_LOGGING="false",
            # The tests' clients send 20 chats a second from one address with one key.
            RATE_LIMIT_PER_KEY="off",
            RATE_LIMIT_PER_IP="off",
        )
        deployed = stack.deploy()
        assert deployed.returncode == 0, deployed.stderr
        for service, replicas in (("chatbot", 2), ("nginx", 1), ("fake-openai", 1)):
            stack.wait_converged(service, replicas)
        stack.find_nginx()
        yield stack
    finally:
        try:
            if stack is not None:
                ARTIFACTS.mkdir(exist_ok=True)
                (ARTIFACTS / "swarm-stack.log").write_text(stack.logs(), "utf-8")
        finally:
            engines.stop(engine)
            delete_from_registry(name)
            # The names the images were pushed under, on the machine's engine (the images themselves stay).
            listed = subprocess.run(
                ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            ).stdout.split()
            pushed = [ref for ref in listed if ref.startswith(f"{registry}/")]
            if pushed:
                subprocess.run(
                    ["docker", "image", "rm", *pushed], capture_output=True, timeout=120, check=False
                )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.swarm)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "swarm: deploys the stack on a one-node Docker Swarm")
