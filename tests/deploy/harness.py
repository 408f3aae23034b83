"""Deploy rehearsal harness: the sandbox services, one VM folder, and the deploy scripts run against them."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
REGISTRY_HOST = "127.0.0.1:5000"
IMAGES = ("chatbot", "chatbot-nginx")
FAKE_IMAGE = "fake-openai:rehearsal"
API_KEY = "deploy-rehearsal-key"
OPENAI_KEY = "sk-deploy-rehearsal"
MOVING_TAG = "main"
#: Seconds deploy.sh waits for the services' healthchecks (production default: 120).
WAIT_TIMEOUT = 90
TIMINGS: dict[str, float] = {}
FAKE_HEALTH_PROBE = "import urllib.request as u; u.urlopen('http://127.0.0.1:8081/_fake/health', timeout=2)"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"deploy rehearsal cannot run in CI: {reason}")
    pytest.skip(f"deploy rehearsal skipped: {reason}")


def run(
    cmd: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


@dataclass(frozen=True)
class Sandbox:
    """The docker-sandbox services: where the SSH key, the pinned host key and the base images are."""

    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key: Path
    known_hosts: Path
    python_image: str
    nginx_image: str
    redis_image: str


@dataclass
class Rehearsal:
    """One VM folder, compose project and registry path; methods run the deploy scripts against them."""

    sandbox: Sandbox
    name: str
    vm_dir: Path
    http_port: int
    https_port: int
    first_tag: str
    env: dict[str, str] = field(repr=False)
    #: The client key the tests use; a rotation (test_secrets.py) replaces it.
    api_key: str = field(default=API_KEY, repr=False)

    @property
    def registry(self) -> str:
        return f"{REGISTRY_HOST}/{self.name}"

    @property
    def https_url(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def ca_file(self) -> Path:
        return self.vm_dir / "certs/fullchain.pem"

    def build_push(self, tag: str, source: Path = REPO) -> subprocess.CompletedProcess[str]:
        env = {
            **self.env,
            "REGISTRY": self.registry,
            "TAG": tag,
            "MOVING_TAG": MOVING_TAG,
            # The engine's own builder exports inline cache only; CI's docker-container builder: registry.
            "BUILD_CACHE": "inline",
            "PYTHON_IMAGE": self.sandbox.python_image,
            "NGINX_IMAGE": self.sandbox.nginx_image,
        }
        return run(["bash", str(source / "deploy/build-push.sh")], timeout=900, env=env)

    @property
    def secret(self) -> str:
        """The Secret Manager secret holding this VM's .env."""
        return f"{self.name}-env"

    def release_env(self, tag: str, known_hosts: Path | None = None, keep: int = 5) -> dict[str, str]:
        """release.sh's settings for this VM (also what deploy/rotate.sh hands it)."""
        return {
            **self.env,
            "TAG": tag,
            "REGISTRY": self.registry,
            "DEPLOY_HOST": self.sandbox.ssh_host,
            "DEPLOY_PORT": str(self.sandbox.ssh_port),
            "DEPLOY_USER": self.sandbox.ssh_user,
            "DEPLOY_SSH_KEY": str(self.sandbox.ssh_key),
            "DEPLOY_KNOWN_HOSTS": str(known_hosts or self.sandbox.known_hosts),
            "DEPLOY_DIR": str(self.vm_dir),
            "DEPLOY_PROJECT": self.name,
            "DEPLOY_WAIT_TIMEOUT": str(WAIT_TIMEOUT),
            "DEPLOY_KEEP": str(keep),
        }

    def release(
        self,
        tag: str,
        known_hosts: Path | None = None,
        keep: int = 5,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """deploy/release.sh for `tag` (`current`: the live release again, with the latest secrets)."""
        env = {**self.release_env(tag, known_hosts, keep), **(extra_env or {})}
        return run(["bash", str(REPO / "deploy/release.sh")], timeout=WAIT_TIMEOUT * 2 + 120, env=env)

    def retag_push(self, source: str, target: str) -> None:
        """Pushes the images of one tag under another, as a new commit that changed nothing would be."""
        for image in IMAGES:
            src, dst = f"{self.registry}/{image}:{source}", f"{self.registry}/{image}:{target}"
            for cmd in (["docker", "tag", src, dst], ["docker", "push", "--quiet", dst]):
                done = run(cmd, timeout=300)
                assert done.returncode == 0, done.stderr

    def push_fake_upstream(self) -> None:
        """The fake OpenAI's image (compose.vm.yaml): the first release's chatbot image, which has aiohttp."""
        src, dst = f"{self.registry}/chatbot:{self.first_tag}", f"{self.registry}/{FAKE_IMAGE}"
        for cmd in (["docker", "tag", src, dst], ["docker", "push", "--quiet", dst]):
            done = run(cmd, timeout=300)
            assert done.returncode == 0, done.stderr

    def has_image(self, ref: str) -> bool:
        return run(["docker", "image", "inspect", ref], timeout=30).returncode == 0

    def client(self) -> httpx.Client:
        # Trusts exactly the VM's certificate: the test sees what a client pinned to it would.
        return httpx.Client(
            base_url=self.https_url, verify=ssl.create_default_context(cafile=self.ca_file), timeout=30
        )

    def containers(self, service: str) -> list[str]:
        """The running containers of a service (the chatbot has several replicas, renamed at each release)."""
        out = run(
            [
                "docker", "ps", "--format", "{{.Names}}",
                "--filter", f"label=com.docker.compose.project={self.name}",
                "--filter", f"label=com.docker.compose.service={service}",
            ],
            timeout=30,
        )  # fmt: skip
        return sorted(out.stdout.split())

    def running_image(self, service: str) -> str:
        """The image every running container of the service runs (fails when they differ, or none runs)."""
        names = self.containers(service)
        assert names, f"no {service} container runs"
        out = run(["docker", "inspect", "-f", "{{.Config.Image}}", *names], timeout=30)
        [image] = set(out.stdout.split())
        return image

    def started_at(self, container: str) -> str:
        """When the container (last) started: the same value means it was neither recreated nor restarted."""
        out = run(["docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", container], timeout=30)
        return out.stdout.strip()

    def live_tag(self) -> str:
        return Path(os.readlink(self.vm_dir / "current")).name

    def registry_tags(self, image: str) -> list[str]:
        response = httpx.get(f"http://{REGISTRY_HOST}/v2/{self.name}/{image}/tags/list", timeout=10)
        if response.status_code == 404:
            return []
        tags: list[str] | None = response.json().get("tags")
        return tags or []


def vm_setup(
    vm_dir: Path,
    registry: str,
    http_port: int,
    https_port: int,
    secret: str,
    gcloud_config: Path,
    redis_image: str,
) -> str:
    """What an operator does once on a new VM (docs/deploy.md), with a fake OpenAI instead of OpenAI; returns
    the .env to store in Secret Manager (the first deploy fetches it: no .env is written here)."""
    (vm_dir / "fakes").mkdir()
    shutil.copy2(REPO / "tests/fakes/openai_server.py", vm_dir / "fakes/openai_server.py")
    env_lines = {
        "API_KEY": API_KEY,
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": "http://fake-openai:8081/v1",
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
        "BIND_ADDRESS": "127.0.0.1",
        "GOOGLE_CLOUD_LOGGING": "false",
        "WORKERS": "1",
        # The tests' clients send 10-20 chats a second from one address with one key, for minutes.
        "RATE_LIMIT_PER_KEY": "off",
        "RATE_LIMIT_PER_IP": "off",
        # No certs/ folder: the first deploy makes the self-signed pair, as on a new VM.
        "CERT_HOSTS": "localhost",
        # On a VM, compose pulls the official Redis image; here the stand-in is already on the engine.
        "REDIS_IMAGE": redis_image,
    }
    # What vm-bootstrap.sh writes from the instance metadata, plus the gcloud configuration that reaches the
    # fake Secret Manager (on a VM, gcloud's own, with the VM's service account).
    (vm_dir / "deploy.conf").write_text(
        f"ENV_SECRET={secret}\nCLOUDSDK_CONFIG={gcloud_config}\n", encoding="utf-8"
    )
    # The fake runs from the first release's chatbot image, pushed under its own name (FAKE_IMAGE) once built:
    # releases come and go, and are pruned, while the upstream stays.
    fake = {
        "services": {
            "fake-openai": {
                "image": f"{registry}/{FAKE_IMAGE}",
                "entrypoint": ["python", "/fakes/openai_server.py"],
                "command": ["--host", "0.0.0.0", "--port", "8081", "--api-key", OPENAI_KEY],
                "volumes": [f"{vm_dir / 'fakes'}:/fakes:ro"],
                "read_only": True,
                "healthcheck": {
                    "test": ["CMD", "python", "-c", FAKE_HEALTH_PROBE],
                    "interval": "2s",
                    "timeout": "3s",
                    "retries": 10,
                },
            }
        }
    }
    # JSON is YAML: no YAML writer needed.
    (vm_dir / "compose.vm.yaml").write_text(json.dumps(fake, indent=2), encoding="utf-8")
    return "".join(f"{k}={v}\n" for k, v in env_lines.items())


def delete_from_registry(name: str) -> None:
    accept = ", ".join(
        [
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
        ]
    )
    with httpx.Client(base_url=f"http://{REGISTRY_HOST}/v2/{name}", timeout=10) as client:
        for image in (*IMAGES, FAKE_IMAGE.split(":")[0]):
            listing = client.get(f"/{image}/tags/list")
            if listing.status_code != 200:
                continue
            for tag in listing.json().get("tags") or []:
                head = client.head(f"/{image}/manifests/{tag}", headers={"Accept": accept})
                digest = head.headers.get("Docker-Content-Digest")
                if digest:
                    client.delete(f"/{image}/manifests/{digest}")


@dataclass(frozen=True)
class Outcome:
    """A finished step: the process result and how long it took."""

    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def output(self) -> str:
        return f"--- stdout\n{self.result.stdout[-6000:]}\n--- stderr\n{self.result.stderr[-6000:]}"


def timed(step: Any, *args: Any, **kwargs: Any) -> Outcome:
    started = time.monotonic()
    result = step(*args, **kwargs)
    return Outcome(result, time.monotonic() - started)
