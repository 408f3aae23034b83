"""deploy/rotate.sh's edits of the .env secret, against the fake Secret Manager through the real gcloud.

Each command reads the latest version, changes one line and adds a new version; here with --no-deploy (the
rehearsal, test_secrets.py, runs them with the redeploy). A shim in front of gcloud records every argument
list it gets: no key, old or new, may ever be one of them (they would show in the process list).
"""

from __future__ import annotations

import hashlib
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy.gcloud_cli import cli_env, sdk_root
from tests.deploy.harness import REPO
from tests.deploy.secrets_harness import FakeSecretManager, env_value

SECRET = "chatbot-env"
OLD_KEY = "0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld"
OPENAI = "sk-old-openai-key-000000"
BASE = (
    f"# production settings\nAPI_KEY={OLD_KEY}\nOPENAI_API_KEY={OPENAI}\nCORS_ORIGINS=https://shop.example\n"
)
SHIM = """#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$ARGV_LOG"
exec "$REAL_GCLOUD" "$@"
"""


@pytest.fixture
def operator(secret_manager: FakeSecretManager, tmp_path: Path) -> dict[str, str]:
    shim = tmp_path / "bin/gcloud"
    shim.parent.mkdir()
    shim.write_text(SHIM, encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = cli_env(secret_manager.gcloud_config(tmp_path / "gcloud"))
    secret = f"{SECRET}-{tmp_path.name}"[:200]
    secret_manager.add_version(secret, BASE)
    return {
        **env,
        "PATH": f"{shim.parent}:{env['PATH']}",
        "REAL_GCLOUD": str(sdk_root() / "bin/gcloud"),
        "ARGV_LOG": str(tmp_path / "argv.log"),
        "ENV_SECRET": secret,
        "DEPLOY_ENV": "/nonexistent",
    }


def _rotate(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "deploy/rotate.sh"), *args, "--no-deploy"],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _fingerprint(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def _argv(env: dict[str, str]) -> str:
    return Path(env["ARGV_LOG"]).read_text(encoding="utf-8")


def test_client_keys_are_added_then_retired(
    secret_manager: FakeSecretManager, operator: dict[str, str]
) -> None:
    secret = operator["ENV_SECRET"]
    added = _rotate(operator, "add-api-key")
    assert added.returncode == 0, added.stderr
    new = added.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", new)
    text = secret_manager.latest(secret)
    # Both keys are valid now, and nothing else of the file changed.
    assert text == BASE.replace(f"API_KEY={OLD_KEY}", f"API_KEY={OLD_KEY},{new}")

    listed = _rotate(operator, "list")
    assert _fingerprint(OLD_KEY) in listed.stdout
    assert _fingerprint(new) in listed.stdout
    assert OLD_KEY not in listed.stdout + listed.stderr
    assert new not in listed.stdout + listed.stderr

    # A prefix that is too short, one that names no key, and retiring the only key left are all refused.
    assert _rotate(operator, "retire-api-key", "0ld").returncode == 64
    assert _rotate(operator, "retire-api-key", "sha256:ffffffffffff").returncode == 64
    retired = _rotate(operator, "retire-api-key", _fingerprint(OLD_KEY))
    assert retired.returncode == 0, retired.stderr
    assert env_value(secret_manager.latest(secret), "API_KEY") == new
    last = _rotate(operator, "retire-api-key", new[:8])
    assert last.returncode == 64
    assert "add its successor first" in last.stderr
    assert env_value(secret_manager.latest(secret), "API_KEY") == new
    # No key ever reached a command line.
    for key in (OLD_KEY, new):
        assert key not in _argv(operator)


def test_a_key_can_come_from_stdin_and_a_duplicate_is_refused(
    secret_manager: FakeSecretManager, operator: dict[str, str]
) -> None:
    chosen = "client-key-chosen-by-the-operator-0001"
    added = _rotate(operator, "add-api-key", "--stdin", stdin=chosen + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout == "", "a key the operator typed is not printed back"
    assert env_value(secret_manager.latest(operator["ENV_SECRET"]), "API_KEY") == f"{OLD_KEY},{chosen}"
    again = _rotate(operator, "add-api-key", "--stdin", stdin=chosen + "\n")
    assert again.returncode == 64
    assert chosen not in _argv(operator)


def test_the_openai_key_is_swapped(secret_manager: FakeSecretManager, operator: dict[str, str]) -> None:
    replacement = "sk-proj-new-openai-key_0123456789"
    swapped = _rotate(operator, "set-openai-key", stdin=replacement + "\n")
    assert swapped.returncode == 0, swapped.stderr
    assert secret_manager.latest(operator["ENV_SECRET"]) == BASE.replace(OPENAI, replacement)
    # A value compose would mangle (spaces, quotes, $) is refused before anything is written.
    refused = _rotate(operator, "set-openai-key", stdin="sk-with a space\n")
    assert refused.returncode == 64
    assert env_value(secret_manager.latest(operator["ENV_SECRET"]), "OPENAI_API_KEY") == replacement
    assert replacement not in _argv(operator)
    assert replacement not in swapped.stdout + swapped.stderr


def test_widget_keys_are_added_and_retired(
    secret_manager: FakeSecretManager, operator: dict[str, str]
) -> None:
    first = _rotate(operator, "add-widget-key")
    second = _rotate(operator, "add-widget-key")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    keys = [first.stdout.strip(), second.stdout.strip()]
    assert all(re.fullmatch(r"pk_[0-9a-f]{32}", k) for k in keys)
    secret = operator["ENV_SECRET"]
    # The variable did not exist: it is added at the end, and the rest stays as it was.
    assert secret_manager.latest(secret) == BASE + f"WIDGET_KEY={keys[0]},{keys[1]}\n"
    # Publishable keys are public: listed in full, and retired by their beginning.
    assert all(k in _rotate(operator, "list").stdout for k in keys)
    retired = _rotate(operator, "retire-widget-key", keys[0][:12])
    assert retired.returncode == 0, retired.stderr
    assert env_value(secret_manager.latest(secret), "WIDGET_KEY") == keys[1]
