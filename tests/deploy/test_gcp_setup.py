"""deploy/gcp-setup.sh: every step runs to the end, creates what is missing, and is safe to run again.

Google Cloud cannot be reached from here, so `gcloud` and `gh` are stand-ins on PATH that record their
arguments and answer `describe` and `list` as told (everything missing, or everything there); IAP's IAM API
is a local fake (tests/fakes/iap_iam.py). What is checked is the script's own logic (the order of the steps,
what it creates, what it leaves alone, what it hands to GitHub), and, against the installed gcloud, that every
call is one that CLI accepts and every monitoring file one its API clients can read.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.gcloud_cli import check_call, cli_env, config_dir, unknown_fields
from tests.deploy.harness import REPO
from tests.deploy.stand_ins import FAKE_GCLOUD, FAKE_GH, install_tool
from tests.fakes.iap_iam import FakeIapIam

HOST_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0LWhvc3Qta2V5LW5vdC1hLXJlYWwtb25l"
TOKEN = "fake-access-token"
CHANNEL = "projects/my-project/notificationChannels/4242"
CHECK = "projects/my-project/uptimeCheckConfigs/chatbot-healthz-1a2b"
STEPS_CREATING = (
    "artifacts repositories create chatbot --location europe-west9 --repository-format docker",
    "iam service-accounts create chatbot-vm",
    "iam service-accounts create github-deployer",
    "compute firewall-rules create chatbot-allow-http",
    "compute firewall-rules create chatbot-allow-https",
    "compute firewall-rules create chatbot-allow-ssh-iap",
    "compute firewall-rules create chatbot-deny-ssh",
    "secrets create chatbot-env",
    "compute addresses create chatbot-vm-ip",
    "compute instances create chatbot-vm",
    "iam workload-identity-pools create github",
    "providers create-oidc github",
    "monitoring channels create",
    "logging metrics create chatbot-5xx",
    "logging metrics create chatbot-upstream-faults",
    "monitoring uptime create chatbot-healthz",
    "monitoring policies create",
)


@pytest.fixture
def iap() -> Iterator[FakeIapIam]:
    with FakeIapIam(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def setup_env(tmp_path: Path, iap: FakeIapIam) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    install_tool(bin_dir / "gcloud", FAKE_GCLOUD)
    install_tool(bin_dir / "gh", FAKE_GH)
    env_file = tmp_path / ".env.production"
    env_file.write_text("API_KEY=0123456789abcdef\nOPENAI_API_KEY=\n", encoding="utf-8")
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_ARGV": str(tmp_path / "argv.log"),
        "FAKE_DIR": str(tmp_path),
        "FAKE_HOST_KEY": HOST_KEY,
        "FAKE_TOKEN": TOKEN,
        "FAKE_CHANNEL": CHANNEL,
        "FAKE_CHECK": CHECK,
        "FAKE_EXISTS": "0",
        "PROJECT_ID": "my-project",
        "GITHUB_REPO": "owner/chatbot-mvp",
        "REGION": "europe-west9",
        "ALERT_EMAIL": "ops@example.com",
        "IAP_API": iap.url,
        "ENV_FILE": str(env_file),
        "KEY_FILE": str(tmp_path / "deploy_key"),
        "KNOWN_HOSTS_FILE": str(tmp_path / "known_hosts"),
    }


def _setup(env: dict[str, str], *steps: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    for log in (Path(env["FAKE_LOG"]), Path(env["FAKE_ARGV"])):
        log.unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", str(REPO / "deploy/gcp-setup.sh"), *steps],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log = Path(env["FAKE_LOG"])
    return done, log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_all_steps_create_everything_once(setup_env: dict[str, str], tmp_path: Path, iap: FakeIapIam) -> None:
    done, calls = _setup(setup_env, "all")
    assert done.returncode == 0, done.stderr

    created = " ".join(c for c in calls if " create" in f" {c}" and "describe" not in c)
    for expected in STEPS_CREATING:
        assert expected in created, expected
    joined = "\n".join(calls)
    # The roles the issue names, each on the narrowest resource.
    assert "--role roles/logging.logWriter" in joined
    vm_account = "serviceAccount:chatbot-vm@my-project.iam.gserviceaccount.com"
    assert f"--member {vm_account} --role roles/artifactregistry.reader" in joined
    assert "--role roles/artifactregistry.writer" in joined
    assert (
        f"secrets add-iam-policy-binding chatbot-env --member {vm_account} "
        "--role roles/secretmanager.secretAccessor" in joined
    )
    # HTTP and HTTPS from anywhere; SSH from IAP's range only, refused from anywhere else, for the VM's tag.
    assert "--rules tcp:80" in joined
    assert "--rules tcp:443" in joined
    ssh_iap = next(c for c in calls if "create chatbot-allow-ssh-iap" in c)
    assert (
        "--action ALLOW --rules tcp:22 --source-ranges 35.235.240.0/20 "
        "--target-tags chatbot-web --priority 900" in ssh_iap
    )
    ssh_deny = next(c for c in calls if "create chatbot-deny-ssh" in c)
    assert (
        "--action DENY --rules tcp:22 --source-ranges 0.0.0.0/0 --target-tags chatbot-web --priority 1000"
        in ssh_deny
    )
    # The deployer may open IAP tunnels to this VM only: a binding on its tunnel resource, none project-wide.
    resource = "projects/my-project/iap_tunnel/zones/europe-west9-a/instances/chatbot-vm"
    deployer = "serviceAccount:github-deployer@my-project.iam.gserviceaccount.com"
    assert iap.policies[resource]["bindings"] == [
        {"role": "roles/iap.tunnelResourceAccessor", "members": [deployer]}
    ]
    assert "iap.tunnelResourceAccessor" not in joined, "no project-level grant of the tunnel role"
    assert (
        "gcloud compute ssh chatbot-vm --zone europe-west9-a --project my-project --tunnel-through-iap"
        in done.stderr
    )
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
    # Alerts by email to ALERT_EMAIL; the uptime check on the VM's address over HTTPS.
    assert (
        "--type email --display-name chatbot alerts --channel-labels email_address=ops@example.com" in joined
    )
    uptime = next(c for c in calls if "uptime create" in c)
    assert (
        "--resource-labels host=203.0.113.10,project_id=my-project "
        "--protocol https --port 443 --path /healthz" in uptime
    )
    # GitHub gets plain settings as variables and the key material as secrets, in the production environment.
    github = "--repo owner/chatbot-mvp --env production"
    provider_name = "projects/123456789012/locations/global/workloadIdentityPools/github/providers/github"
    assert f"gh variable set GCP_WIF_PROVIDER {github} --body {provider_name}" in joined
    assert f"gh variable set VM_HOST {github} --body 203.0.113.10" in joined
    assert f"gh variable set VM_NAME {github} --body chatbot-vm" in joined
    assert f"gh variable set GCP_ZONE {github} --body europe-west9-a" in joined
    assert f"gh secret set VM_SSH_PRIVATE_KEY {github}" in joined
    assert "stdin -----BEGIN OPENSSH PRIVATE KEY-----" in joined
    assert f"gh secret set VM_KNOWN_HOSTS {github}" in joined
    # The access token reached IAP in a header, never on a command line.
    assert TOKEN not in joined


def test_running_again_creates_nothing(setup_env: dict[str, str], iap: FakeIapIam) -> None:
    first, _ = _setup(setup_env, "ssh-key", "vm", "iap")
    assert first.returncode == 0, first.stderr
    key = Path(setup_env["KEY_FILE"]).read_bytes()
    before = len(iap.requests)

    done, calls = _setup({**setup_env, "FAKE_EXISTS": "1"}, "all")

    assert done.returncode == 0, done.stderr
    assert [c for c in calls if " create " in f" {c} " or "create-oidc" in c] == []
    assert Path(setup_env["KEY_FILE"]).read_bytes() == key, "an existing deploy key must never be replaced"
    assert [path for path, _ in iap.requests[before:] if path.endswith(":setIamPolicy")] == []
    # What exists is brought in line with the files: same metrics and policies, updated in place.
    assert any("logging metrics update chatbot-5xx --config-from-file" in c for c in calls)
    assert any("alpha monitoring policies update projects/my-project/alertPolicies/77" in c for c in calls)


def test_env_secret_refuses_placeholders(setup_env: dict[str, str]) -> None:
    Path(setup_env["ENV_FILE"]).write_text("API_KEY=!!!SET_API_KEY!!!\n", encoding="utf-8")
    done, calls = _setup(setup_env, "env-secret")
    assert done.returncode == 64
    assert "placeholders" in done.stderr
    assert not any("versions add" in c for c in calls)


@pytest.mark.parametrize("exists", ["0", "1"], ids=["fresh-project", "everything-there"])
def test_every_gcloud_call_is_one_the_installed_cli_accepts(setup_env: dict[str, str], exists: str) -> None:
    done, _ = _setup({**setup_env, "FAKE_EXISTS": exists}, "all")
    assert done.returncode == 0, done.stderr

    calls = [
        shlex.split(line) for line in Path(setup_env["FAKE_ARGV"]).read_text(encoding="utf-8").splitlines()
    ]
    assert len(calls) > 30
    problems = [p for argv in calls for p in check_call(argv)]
    assert problems == []


def test_monitoring_files_are_what_the_cli_sends(setup_env: dict[str, str], tmp_path: Path) -> None:
    done, _ = _setup({**setup_env, "PUBLIC_HOST": "chat.example.com"}, "monitoring")
    assert done.returncode == 0, done.stderr
    rendered = tmp_path / "files"
    metrics = sorted((REPO / "deploy/monitoring/metrics").glob("*.json"))
    policies = sorted((REPO / "deploy/monitoring/policies").glob("*.json"))
    assert {p.name for p in rendered.iterdir()} == {p.name for p in metrics + policies}

    metric_types, filters = set(), {}
    for template in metrics:
        metric = json.loads((rendered / template.name).read_text(encoding="utf-8"))
        filters[template.stem] = metric["filter"]
        assert unknown_fields("LogMetric", json.dumps(metric)) == []
        assert metric["name"] == template.stem
        # The service's log, in this project; what the service logs (README, Logs) is what is counted.
        assert metric["filter"].startswith('logName="projects/my-project/logs/chatbot-mvp" AND ')
        assert set(metric["labelExtractors"]) == {
            label["key"] for label in metric["metricDescriptor"]["labels"]
        }
        metric_types.add(f"logging.googleapis.com/user/{template.stem}")
    assert 'jsonPayload.logger=("chatbot.access"' in filters["chatbot-5xx"]
    assert "httpRequest.status>=500" in filters["chatbot-5xx"]
    assert "severity>=WARNING" in filters["chatbot-upstream-faults"]
    assert 'jsonPayload.message:"upstream call failed"' in filters["chatbot-upstream-faults"]

    referenced = set()
    for template in policies:
        policy = json.loads((rendered / template.name).read_text(encoding="utf-8"))
        assert unknown_fields("AlertPolicy", json.dumps(policy)) == []
        assert policy["userLabels"] == {"chatbot_policy": template.stem}
        assert policy["notificationChannels"] == [CHANNEL]
        assert policy["enabled"] is True
        for condition in policy["conditions"]:
            filt = condition["conditionThreshold"]["filter"]
            referenced |= {t for t in metric_types if f'metric.type="{t}"' in filt}
            if "uptime_check" in filt:
                assert f'metric.label.check_id="{CHECK.rsplit("/", 1)[1]}"' in filt
    assert "https://chat.example.com/healthz" in (rendered / "uptime.json").read_text(encoding="utf-8")
    # Each log-based metric the setup creates has its alert, and the uptime check has one.
    assert referenced == metric_types
    assert any("uptime_check/check_passed" in p.read_text(encoding="utf-8") for p in policies)


def test_the_iap_proxy_command_uses_a_flag_this_gcloud_has(tmp_path: Path) -> None:
    """release.sh's ProxyCommand relies on start-iap-tunnel's --listen-on-stdin, a hidden flag (the one
    `gcloud compute ssh --tunnel-through-iap` uses): the installed CLI must parse it. Both calls stop at
    argument checks, before any network access."""
    config = config_dir(tmp_path / "gcloud", tmp_path / "token", "p", {})
    base = ["gcloud", "compute", "start-iap-tunnel", "chatbot-vm", "22", "--zone=z", "--project=p"]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *extra], env=cli_env(config), capture_output=True, text=True, timeout=60, check=False
        )

    known = run("--listen-on-stdin", "--local-host-port=localhost:0")
    assert "arguments not allowed simultaneously: --listen-on-stdin, --local-host-port" in known.stderr
    unknown = run("--listen-on-stdinx")
    assert "unrecognized arguments: --listen-on-stdinx" in unknown.stderr
