"""release.sh through an IAP tunnel: the SSH session goes through `gcloud compute start-iap-tunnel` as ssh's
ProxyCommand, and the VM's host key is checked exactly as on a direct connection.

IAP cannot be reached from here: `gcloud` is a stand-in on PATH that records its arguments and relays the
session to the rehearsal's sshd, as IAP relays it to the VM's port 22. The flags it is given are checked
against the installed gcloud (tests/deploy/gcloud_cli.py; the hidden --listen-on-stdin by test_gcp_setup.py).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.deploy.gcloud_cli import check_call
from tests.deploy.harness import Outcome, Rehearsal
from tests.deploy.stand_ins import IAP_TUNNEL, install_tool

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(600)]

IAP = {
    "DEPLOY_IAP_INSTANCE": "chatbot-vm",
    "DEPLOY_IAP_ZONE": "europe-west9-a",
    "DEPLOY_IAP_PROJECT": "my-project",
}


def _tunnel_env(tmp_path: Path) -> dict[str, str]:
    stand_in = tmp_path / "bin/gcloud"
    stand_in.parent.mkdir(exist_ok=True)
    install_tool(stand_in, IAP_TUNNEL)
    return {
        **IAP,
        "PATH": f"{stand_in.parent}:{os.environ['PATH']}",
        "TUNNEL_LOG": str(tmp_path / "tunnel.log"),
    }


def _tunnel_calls(env: dict[str, str]) -> list[list[str]]:
    log = Path(env["TUNNEL_LOG"])
    return (
        [shlex.split(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    )


def test_a_redeploy_goes_through_the_tunnel(
    rehearsal: Rehearsal, first_release: tuple[Outcome, Outcome], tmp_path: Path
) -> None:
    assert first_release[1].result.returncode == 0, "needs a live release"
    env = _tunnel_env(tmp_path)

    release = rehearsal.release("current", extra_env=env)

    assert release.returncode == 0, release.stderr
    assert "deploying the live release again" in release.stderr
    calls = _tunnel_calls(env)
    expected = [
        "compute",
        "start-iap-tunnel",
        "chatbot-vm",
        str(rehearsal.sandbox.ssh_port),
        "--listen-on-stdin",
    ]
    assert calls, "ssh never started the tunnel"
    assert all(call[:5] == expected for call in calls), calls
    assert {"--zone=europe-west9-a", "--project=my-project"} <= set(calls[0])
    assert [p for call in calls for p in check_call(call, hidden=frozenset({"--listen-on-stdin"}))] == []


def test_a_changed_host_key_is_refused_through_the_tunnel(rehearsal: Rehearsal, tmp_path: Path) -> None:
    sandbox = rehearsal.sandbox
    key = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    known_hosts = tmp_path / "known_hosts"
    entry = f"[{sandbox.ssh_host}]:{sandbox.ssh_port} {key.with_suffix('.pub').read_text().strip()}\n"
    known_hosts.write_text(entry, encoding="utf-8")
    tag = hashlib.sha1(f"{rehearsal.name}-iap".encode()).hexdigest()  # noqa: S324
    env = _tunnel_env(tmp_path)

    release = rehearsal.release(tag, known_hosts=known_hosts, extra_env=env)

    assert release.returncode != 0
    assert "Host key verification failed" in release.stderr, release.stderr
    assert _tunnel_calls(env), "the connection did go through the tunnel"
    assert not (rehearsal.vm_dir / "releases" / tag).exists()
