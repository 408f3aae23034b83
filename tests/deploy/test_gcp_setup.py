"""deploy/gcp-setup.sh: every step runs to the end, creates what is missing, and is safe to run again.

Google Cloud cannot be reached from here, so `gcloud` and `gh` are stand-ins on PATH that record their
arguments and answer `describe` as told (everything missing, or everything there). What is checked is the
script's own logic: the order of the steps, what it creates, what it leaves alone, what it hands to GitHub.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy.harness import REPO

HOST_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0LWhvc3Qta2V5LW5vdC1hLXJlYWwtb25l"
FAKE_GCLOUD = r"""#!/usr/bin/env bash
# Records the call; `describe` succeeds only when FAKE_EXISTS=1; a few reads answer with fixed values.
printf '%s\n' "$*" >>"$FAKE_LOG"
args=" $* "
case $args in
  *" projects describe "*) echo 123456789012; exit 0 ;;
  *" addresses describe "*)
    [ "$FAKE_EXISTS" = 1 ] || [ -f "$FAKE_DIR/address" ] || exit 1; echo 203.0.113.10; exit 0 ;;
  *" addresses create "*) touch "$FAKE_DIR/address"; exit 0 ;;
  *" get-guest-attributes "*) printf 'ssh-ed25519\t%s\n' "$FAKE_HOST_KEY"; exit 0 ;;
  *" describe "*) [ "$FAKE_EXISTS" = 1 ]; exit ;;
esac
"""
FAKE_GH = r"""#!/usr/bin/env bash
printf 'gh %s\n' "$*" >>"$FAKE_LOG"
if [ "$1" = secret ]; then printf 'stdin %s\n' "$(head -c 40)" >>"$FAKE_LOG"; fi
"""


def _tool(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def setup_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir / "gcloud", FAKE_GCLOUD)
    _tool(bin_dir / "gh", FAKE_GH)
    env_file = tmp_path / ".env.production"
    env_file.write_text("API_KEY=0123456789abcdef\nOPENAI_API_KEY=\n", encoding="utf-8")
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_DIR": str(tmp_path),
        "FAKE_HOST_KEY": HOST_KEY,
        "FAKE_EXISTS": "0",
        "PROJECT_ID": "my-project",
        "GITHUB_REPO": "owner/chatbot-mvp",
        "REGION": "europe-west9",
        "ENV_FILE": str(env_file),
        "KEY_FILE": str(tmp_path / "deploy_key"),
        "KNOWN_HOSTS_FILE": str(tmp_path / "known_hosts"),
    }


def _setup(env: dict[str, str], *steps: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = Path(env["FAKE_LOG"])
    log.unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", str(REPO / "deploy/gcp-setup.sh"), *steps],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_all_steps_create_everything_once(setup_env: dict[str, str], tmp_path: Path) -> None:
    done, calls = _setup(setup_env, "all")
    assert done.returncode == 0, done.stderr

    creates = [c for c in calls if " create" in f" {c}" and "describe" not in c]
    created = " ".join(creates)
    for expected in (
        "artifacts repositories create chatbot --location europe-west9 --repository-format docker",
        "iam service-accounts create chatbot-vm",
        "iam service-accounts create github-deployer",
        "compute firewall-rules create chatbot-allow-http",
        "compute firewall-rules create chatbot-allow-https",
        "secrets create chatbot-env",
        "compute addresses create chatbot-vm-ip",
        "compute instances create chatbot-vm",
        "iam workload-identity-pools create github",
        "providers create-oidc github",
    ):
        assert expected in created, expected
    joined = "\n".join(calls)
    # The roles the issue names, each on the narrowest resource.
    assert "--role roles/logging.logWriter" in joined
    vm_account = "serviceAccount:chatbot-vm@my-project.iam.gserviceaccount.com"
    assert f"--member {vm_account} --role roles/artifactregistry.reader" in joined
    assert "--role roles/artifactregistry.writer" in joined
    assert "--rules tcp:80" in joined
    assert "--rules tcp:443" in joined
    # The VM: Debian 12, bootstrapped by the startup script, host keys published for the pinning step.
    vm = next(c for c in calls if "instances create" in c)
    assert "--image-family debian-12" in vm
    assert "startup-script=deploy/vm-bootstrap.sh" in vm
    assert "enable-guest-attributes=TRUE" in vm
    # Only this repository's production environment may impersonate the deployer.
    provider = next(c for c in calls if "create-oidc" in c)
    assert "assertion.repository == 'owner/chatbot-mvp' && assertion.environment == 'production'" in provider
    # The pinned host key comes from the Compute API, for the VM's static address.
    assert (tmp_path / "known_hosts").read_text(encoding="utf-8") == f"203.0.113.10 ssh-ed25519 {HOST_KEY}\n"
    assert (tmp_path / "deploy_key").exists()
    assert (tmp_path / "deploy_key.pub").exists()
    # GitHub gets plain settings as variables and the key material as secrets, in the production environment.
    github = "--repo owner/chatbot-mvp --env production"
    provider_name = "projects/123456789012/locations/global/workloadIdentityPools/github/providers/github"
    assert f"gh variable set GCP_WIF_PROVIDER {github} --body {provider_name}" in joined
    assert f"gh variable set VM_HOST {github} --body 203.0.113.10" in joined
    assert f"gh secret set VM_SSH_PRIVATE_KEY {github}" in joined
    assert "stdin -----BEGIN OPENSSH PRIVATE KEY-----" in joined
    assert f"gh secret set VM_KNOWN_HOSTS {github}" in joined


def test_running_again_creates_nothing(setup_env: dict[str, str]) -> None:
    first, _ = _setup(setup_env, "ssh-key")
    assert first.returncode == 0, first.stderr
    key = Path(setup_env["KEY_FILE"]).read_bytes()

    done, calls = _setup({**setup_env, "FAKE_EXISTS": "1"}, "all")

    assert done.returncode == 0, done.stderr
    assert [c for c in calls if " create " in f" {c} " or "create-oidc" in c] == []
    assert Path(setup_env["KEY_FILE"]).read_bytes() == key, "an existing deploy key must never be replaced"


def test_env_secret_refuses_placeholders(setup_env: dict[str, str]) -> None:
    Path(setup_env["ENV_FILE"]).write_text("API_KEY=!!!SET_API_KEY!!!\n", encoding="utf-8")
    done, calls = _setup(setup_env, "env-secret")
    assert done.returncode == 64
    assert "placeholders" in done.stderr
    assert not any("versions add" in c for c in calls)
