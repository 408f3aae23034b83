"""The rehearsal's Secret Manager side: the fake API, the gcloud configurations that reach it, key rotations.

The VM's .env lives in the fake Secret Manager (tests/fakes/secret_manager.py) as it lives in Google's on a
real VM. Both sides use the real gcloud CLI: the VM's deploy.sh through the configuration named in its
deploy.conf, the operator's deploy/rotate.sh through its own, each with an access-token file the fake checks.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.deploy.gcloud_cli import cli_env, config_dir
from tests.deploy.harness import REPO, WAIT_TIMEOUT, Rehearsal
from tests.processes import FAKES, Process, base_env, free_port

PROJECT = "rehearsal-project"


class FakeSecretManager:
    """The fake API as a process on a loopback port, with its control endpoints."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(16)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._proc = Process(
            [sys.executable, str(FAKES / "secret_manager.py"), "--port", str(port), "--token", self.token],
            base_env(),
        )
        self._proc.wait_http(f"{self.url}/_fake/requests")

    def gcloud_config(self, folder: Path) -> Path:
        """A gcloud configuration folder whose Secret Manager is this fake."""
        token = folder / "token"
        folder.mkdir(parents=True, exist_ok=True)
        token.write_text(self.token, encoding="utf-8")
        token.chmod(0o600)
        return config_dir(folder, token, PROJECT, {"secretmanager": f"{self.url}/"})

    def add_version(self, secret: str, text: str) -> None:
        httpx.post(f"{self.url}/_fake/secrets/{secret}", content=text.encode(), timeout=10).raise_for_status()

    def latest(self, secret: str) -> str:
        response = httpx.get(f"{self.url}/_fake/secrets/{secret}", timeout=10)
        response.raise_for_status()
        return response.text

    def fail(self, status: int = 503) -> None:
        httpx.post(f"{self.url}/_fake/fail", json={"status": status}, timeout=10).raise_for_status()

    def reset(self) -> None:
        httpx.post(f"{self.url}/_fake/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self._proc.stop()


def env_value(text: str, name: str) -> str:
    """The value a .env text gives `name` (the last line setting it, as compose reads it)."""
    value = ""
    for line in text.splitlines():
        if line.startswith(f"{name}="):
            value = line.split("=", 1)[1]
    return value


def rotate(
    rehearsal: Rehearsal, operator_config: Path, secret: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """deploy/rotate.sh from the operator's side: its gcloud configuration, and release.sh's settings."""
    env = {
        **cli_env(operator_config),
        **rehearsal.release_env("current"),
        "ENV_SECRET": secret,
        "DEPLOY_ENV": "/nonexistent",  # never a developer's own .env.deploy
    }
    return subprocess.run(
        ["bash", str(REPO / "deploy/rotate.sh"), *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_TIMEOUT * 2 + 180,
        check=False,
    )


def status_with(rehearsal: Rehearsal, key: str) -> int:
    with rehearsal.client() as client:
        return client.post("/chat", json={"message": "hello"}, headers={"x-api-key": key}).status_code


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()
