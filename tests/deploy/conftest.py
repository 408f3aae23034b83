"""Deploy rehearsal fixtures: a local registry, an SSH "VM" and the real stack, driven by the deploy scripts.

The VM is this machine reached through the docker-sandbox sshd (127.0.0.1:2222, root by key, host key pinned
in the known_hosts file the tool writes). The registry is the docker-sandbox registry on 127.0.0.1:5000. Each
session deploys into its own temporary folder, under its own compose project name, registry path and free
loopback ports, so that it can share the Docker engine with other stacks; everything is removed at the end.

The VM's one-time setup is done here the way docs/deploy.md does it on a real VM: its `.env` (pointing the
chatbot at a fake OpenAI) goes to Secret Manager (a fake of its API, reached by the real gcloud on both
sides), `deploy.conf` names that secret, and a VM-local `compose.vm.yaml` adds the fake OpenAI as a service
(from the first release's chatbot image, with tests/fakes mounted). The first deploy fetches `.env` and makes
the self-signed certificate, as on a new VM. One rehearsal VM serves the whole session.

Without the docker-sandbox tool (DOCKER_SANDBOX, default ../shared/tools/docker-sandbox) or a Docker engine
the tests are skipped, except in CI (CI=true), where that fails them. DEPLOY_KEEP=1 leaves everything in
place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.gcloud_cli import sdk_root
from tests.deploy.harness import (
    ARTIFACTS,
    REGISTRY_HOST,
    REPO,
    TIMINGS,
    Outcome,
    Rehearsal,
    Sandbox,
    delete_from_registry,
    run,
    timed,
    unavailable,
    vm_setup,
)
from tests.deploy.secrets_harness import FakeSecretManager
from tests.processes import free_ports


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    tool = Path(os.environ.get("DOCKER_SANDBOX", REPO.parent / "shared/tools/docker-sandbox"))
    if not tool.is_file():
        unavailable(f"{tool} not found (set DOCKER_SANDBOX to the docker-sandbox tool)")
    if os.geteuid() != 0:
        unavailable("docker-sandbox runs as root")
    steps: dict[str, str] = {}
    for step in ("start", "base-images", "registry", "sshd"):
        done = run(["bash", str(tool), step], timeout=900)
        if done.returncode != 0:
            unavailable(f"docker-sandbox {step} failed: {done.stderr[-2000:]}")
        steps[step] = done.stdout
    exports = dict(re.findall(r"(\w+)=(\S+)", steps["start"]))
    # The sshd step prints the ssh command that reaches it: take the key, known_hosts, port and login from it.
    words = shlex.split(steps["sshd"].strip().splitlines()[-1])
    options = dict(w.split("=", 1) for w in words if "=" in w)
    user, host = words[-1].split("@")
    return Sandbox(
        ssh_host=host,
        ssh_port=int(words[words.index("-p") + 1]),
        ssh_user=user,
        ssh_key=Path(words[words.index("-i") + 1]),
        known_hosts=Path(options["UserKnownHostsFile"]),
        python_image=os.environ.get("PYTHON_IMAGE") or exports.get("PYTHON_IMAGE", "python:3.13-slim"),
        nginx_image=os.environ.get("NGINX_IMAGE") or exports.get("NGINX_IMAGE", "nginx:stable"),
        redis_image=os.environ.get("REDIS_IMAGE") or exports.get("REDIS_IMAGE", "redis:7-alpine"),
    )


@pytest.fixture(scope="session")
def secret_manager() -> Iterator[FakeSecretManager]:
    sdk_root()  # the real gcloud reads and writes the secrets: skipped (or failed in CI) without it
    fake = FakeSecretManager()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def rehearsal(sandbox: Sandbox, secret_manager: FakeSecretManager) -> Iterator[Rehearsal]:
    probe = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30)
    if probe.returncode != 0:
        unavailable("no Docker engine answers")
    name = f"deploy-rehearsal-{uuid.uuid4().hex[:8]}"
    head = run(["git", "-C", str(REPO), "rev-parse", "HEAD"], timeout=30).stdout.strip()
    # A real commit id when there is one; the images are tagged the way the workflow tags them.
    first_tag = head if re.fullmatch(r"[0-9a-f]{40}", head) else hashlib.sha1(name.encode()).hexdigest()  # noqa: S324
    vm_dir = Path(tempfile.mkdtemp(prefix=f"{name}-vm-"))
    http_port, https_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_HOST", "CLOUDSDK_"))}
    r = Rehearsal(sandbox, name, vm_dir, http_port, https_port, first_tag, env)
    vm_gcloud = secret_manager.gcloud_config(vm_dir / "gcloud")
    dotenv = vm_setup(
        vm_dir, f"{REGISTRY_HOST}/{name}", http_port, https_port, r.secret, vm_gcloud, sandbox.redis_image
    )
    secret_manager.add_version(r.secret, dotenv)
    try:
        yield r
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        logs = run(["docker", "compose", "-p", name, "logs", "--no-color", "--timestamps"], timeout=60)
        (ARTIFACTS / "deploy-rehearsal.log").write_text(logs.stdout + logs.stderr, encoding="utf-8")
        if TIMINGS:
            (ARTIFACTS / "deploy-timings.json").write_text(json.dumps(TIMINGS, indent=2), encoding="utf-8")
        if os.environ.get("DEPLOY_KEEP") != "1":
            run(
                ["docker", "compose", "-p", name, "down", "--volumes", "--remove-orphans", "-t", "5"],
                timeout=120,
            )
            listed = run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], timeout=30).stdout
            ours = [ref for ref in listed.split() if ref.startswith(f"{REGISTRY_HOST}/{name}/")]
            if ours:
                run(["docker", "image", "rm", *ours], timeout=120)
            delete_from_registry(name)
            shutil.rmtree(vm_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def first_release(rehearsal: Rehearsal) -> tuple[Outcome, Outcome]:
    """The first commit built, pushed and deployed: (build-push, release)."""
    build = timed(rehearsal.build_push, rehearsal.first_tag)
    assert build.result.returncode == 0, build.output
    rehearsal.push_fake_upstream()
    release = timed(rehearsal.release, rehearsal.first_tag)
    TIMINGS["build+push (both images)"] = build.seconds
    TIMINGS["release: ship + deploy.sh to healthy"] = release.seconds
    TIMINGS["push to healthy (build+push+release)"] = build.seconds + release.seconds
    return build, release


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "deploy rehearsal timings (s)")
        for key, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{key:<45} {seconds:6.1f}")
