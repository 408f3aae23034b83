"""The stack on Docker Swarm, deployed for real on a one-node swarm of this engine (see harness.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.swarm.harness import (
    ARTIFACTS,
    REPO,
    Stack,
    create_secrets,
    init_swarm,
    leave_swarm,
    must,
    new_api_key,
    run,
    stack_file,
    stack_logs,
    swarm_state,
)


def _base(var: str, standin: str, official: str) -> str:
    if os.environ.get(var):
        return os.environ[var]
    return standin if run(["docker", "image", "inspect", standin], 30).returncode == 0 else official


def _build(tag: str) -> None:
    """The two images, as compose.yaml builds them (quick after the other tests: the build cache)."""
    python = _base("PYTHON_IMAGE", "local/python:3.13-slim", "python:3.13-slim")
    nginx = _base("NGINX_IMAGE", "local/nginx:stable", "nginx:stable")
    must(["docker", "build", "-q", "-f", "chatbot/Dockerfile", "--build-arg", f"PYTHON_IMAGE={python}",
          "-t", f"local/chatbot:{tag}", str(REPO)], timeout=900)  # fmt: skip
    must(["docker", "build", "-q", "--build-arg", f"NGINX_IMAGE={nginx}", "-t", f"local/chatbot-nginx:{tag}",
          str(REPO / "nginx")], timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    swarm_state()  # skipped (or failed in CI) without an engine
    tag = os.environ.get("E2E_TAG", "e2e")
    _build(tag)
    folder = tmp_path_factory.mktemp("swarm")
    cert_dir = folder / "certs"
    must([str(REPO / "scripts/certs.sh")], CERT_DIR=str(cert_dir), CERT_HOSTS="localhost")
    (folder / "stack.yaml").write_text(json.dumps(stack_file(tag, REPO / "tests/fakes"), indent=2), "utf-8")
    init_swarm()
    try:
        api_key = new_api_key()
        create_secrets(api_key, cert_dir)
        stack = Stack(
            folder=folder,
            variables={
                "REGISTRY": "local",
                "TAG": tag,
                "NGINX_TAG": tag,
                "REDIS_IMAGE": _base("REDIS_IMAGE", "local/redis:7", "redis:7-alpine"),
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
        stack.wait_converged("chatbot", 2)
        stack.wait_converged("nginx", 1)
        stack.wait_converged("fake-openai", 1)
        stack.find_nginx()
        yield stack
    finally:
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / "swarm-stack.log").write_text(stack_logs(), "utf-8")
        finally:
            leave_swarm()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.swarm)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "swarm: deploys the stack on a one-node Docker Swarm")
