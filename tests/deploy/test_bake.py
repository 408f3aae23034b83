"""deploy/docker-bake.hcl builds what compose.yaml runs: same services, contexts, Dockerfiles, args and names.

The deploy builds with bake (a CI runner has no `.env`, which compose.yaml's `env_file` requires), and the VM
runs compose.yaml: if the two drifted, the VM would pull images under other names, or built with other
arguments, than the stack that `make up` and the end-to-end tests run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.deploy.harness import REPO, unavailable

pytestmark = pytest.mark.deploy

NAMES = {"REGISTRY": "registry.example/p/r", "TAG": "0123abcd"}


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR-default}, defaults nested or not: all compose.yaml uses."""
    innermost = re.compile(r"\$\{(\w+)(?::?-([^${}]*))?\}")
    while (done := innermost.sub(lambda m: env.get(m[1]) or (m[2] or ""), value)) != value:
        value = done
    return value


def _bake_targets() -> dict[str, Any]:
    if shutil.which("docker") is None:
        unavailable("the docker CLI is not installed")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHON_IMAGE", "NGINX_IMAGE"}} | NAMES
    done = subprocess.run(
        ["docker", "buildx", "bake", "--file", "deploy/docker-bake.hcl", "--print"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"docker buildx bake --print failed: {done.stderr[-500:]}")
    printed: dict[str, Any] = json.loads(done.stdout)
    targets: dict[str, Any] = printed["target"]
    assert set(printed["group"]["default"]["targets"]) == set(targets)
    return targets


def test_bake_builds_what_compose_runs() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    built = {name: svc for name, svc in compose["services"].items() if "build" in svc}
    targets = _bake_targets()

    assert set(targets) == set(built)
    for name, service in built.items():
        build, target = service["build"], targets[name]
        assert os.path.normpath(target["context"]) == os.path.normpath(build["context"]), name
        assert target.get("dockerfile", "Dockerfile") == build.get("dockerfile", "Dockerfile"), name
        compose_args = {k: _interpolate(str(v), {}) for k, v in (build.get("args") or {}).items()}
        assert target.get("args", {}) == compose_args, name
        # The image the VM pulls for this service is the one bake pushes.
        assert target["tags"] == [_interpolate(service["image"], NAMES)], name
