"""How the containers run: non-root, only Nginx published, rotated logs, read-only code; the image's size."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.edge import memory_mib

pytestmark = pytest.mark.timeout(600)

#: What our layers may add over the Python base image (measured: 75 MB; the budget is 200 MB in total on the
#: official slim image of about 120 MB).
CHATBOT_LAYERS_BUDGET_MB = 90


def _inspect(name: str) -> dict[str, Any]:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True, timeout=30)
    [found] = json.loads(out.stdout)
    return dict(found)


def _container(stack: Stack, service: str) -> dict[str, Any]:
    return _inspect(f"{stack.project}-{service}-1")


def test_only_nginx_publishes_ports_and_only_on_the_chosen_address(stack: Stack) -> None:
    chatbot = _container(stack, "chatbot")["NetworkSettings"]["Ports"]
    nginx = _container(stack, "nginx")["NetworkSettings"]["Ports"]
    assert all(not bindings for bindings in chatbot.values())
    assert nginx["443/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(stack.https_port)}]
    assert nginx["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(stack.http_port)}]


@pytest.mark.parametrize("service", ["chatbot", "nginx", "edge-shipper"])
def test_logs_rotate_and_containers_restart_unless_stopped(stack: Stack, service: str) -> None:
    host = _container(stack, service)["HostConfig"]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "5", "max-size": "10m"}}
    assert host["RestartPolicy"]["Name"] == "unless-stopped"


@pytest.mark.parametrize(("service", "limit_mib"), [("chatbot", 512), ("nginx", 128), ("edge-shipper", 128)])
def test_each_service_has_a_memory_limit_above_its_use(stack: Stack, service: str, limit_mib: int) -> None:
    """compose.yaml's limits (CHATBOT_MEM_LIMIT, NGINX_MEM_LIMIT, SHIPPER_MEM_LIMIT): a runaway process
    cannot take the VM down, and the use at rest stays far below: the limit never kills a healthy service."""
    assert _container(stack, service)["HostConfig"]["Memory"] == limit_mib * 1024 * 1024
    assert memory_mib(f"{stack.project}-{service}-1") < limit_mib / 2


def test_chatbot_runs_as_a_non_root_user_on_a_read_only_filesystem(stack: Stack) -> None:
    container = _container(stack, "chatbot")
    assert container["HostConfig"]["ReadonlyRootfs"] is True
    assert container["HostConfig"]["CapDrop"] == ["ALL"]
    probe = stack.compose(
        "exec",
        "-T",
        "chatbot",
        "python",
        "-c",
        "import os, pathlib\n"
        "print(os.getuid())\n"
        "try:\n"
        "    pathlib.Path('/opt/venv/injected.py').write_text('x')\n"
        "    print('venv writable')\n"
        "except OSError:\n"
        "    print('venv read-only')\n",
    )
    assert probe.stdout.splitlines() == ["10001", "venv read-only"]


def test_chatbot_image_holds_no_secrets_tests_or_pip(stack: Stack) -> None:
    image = _container(stack, "chatbot")["Config"]["Image"]
    listing = subprocess.run(
        [
            "docker", "run", "--rm", "--entrypoint", "sh", image, "-c",
            "find / -xdev \\( -name '.env' -o -name 'privkey.pem' -o -name 'openai_server.py' \\) -print; "
            "ls /opt/venv/bin; ls -d /src /app/tests 2>/dev/null; true",
        ],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    assert "python" in listing
    assert not [name for name in listing if name.startswith("pip")]
    assert not [name for name in listing if name.startswith("/")], listing


def test_chatbot_image_stays_within_its_size_budget(stack: Stack) -> None:
    image = _inspect(_container(stack, "chatbot")["Config"]["Image"])
    base = _inspect(stack.env["PYTHON_IMAGE"])
    added_mb = (image["Size"] - base["Size"]) / 1e6
    total_mb = image["Size"] / 1e6
    print(f"chatbot image: {total_mb:.0f} MB, of which {added_mb:.1f} MB over {stack.env['PYTHON_IMAGE']}")
    assert added_mb <= CHATBOT_LAYERS_BUDGET_MB
