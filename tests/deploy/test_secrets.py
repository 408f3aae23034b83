"""The VM's secrets rehearsed: every deploy reads .env from Secret Manager, and keys rotate without refusing
clients that hold a valid key.

The first deploy (conftest.py) fetched .env from the fake Secret Manager through the real gcloud on the "VM";
here deploy/rotate.sh runs from the operator's side (its own gcloud configuration) and redeploys the live
release (release.sh TAG=current), as it does in production.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from pathlib import Path

import pytest

from tests.deploy.harness import ARTIFACTS, OPENAI_KEY, TIMINGS, Outcome, Rehearsal, timed
from tests.deploy.secrets_harness import FakeSecretManager, env_value, rotate, status_with
from tests.traffic import ChatLoad

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def live(rehearsal: Rehearsal, first_release: tuple[Outcome, Outcome]) -> Rehearsal:
    assert first_release[1].result.returncode == 0, "needs a live release"
    return rehearsal


@pytest.fixture(scope="module")
def operator_config(secret_manager: FakeSecretManager, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return secret_manager.gcloud_config(tmp_path_factory.mktemp("operator") / "gcloud")


def _secret_files(folder: Path) -> list[Path]:
    """Regular files under folder (links not followed: a release reaches .env through a link)."""
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]


def test_the_first_deploy_fetched_env_from_secret_manager(
    live: Rehearsal, secret_manager: FakeSecretManager, first_release: tuple[Outcome, Outcome]
) -> None:
    dotenv = live.vm_dir / ".env"
    assert dotenv.read_text(encoding="utf-8") == secret_manager.latest(live.secret)
    assert stat.S_IMODE(dotenv.stat().st_mode) == 0o600
    log = first_release[1].result.stderr
    assert f".env: version 1 of {live.secret} (changed)" in log, first_release[1].output
    # Nothing secret in the deploy's log, nor in any release folder (each sees .env through a link).
    for value in (live.api_key, OPENAI_KEY):
        assert value not in log + first_release[1].result.stdout
        for path in _secret_files(live.vm_dir / "releases"):
            assert value not in path.read_text(encoding="utf-8", errors="replace"), path
    assert all((rel / ".env").is_symlink() for rel in (live.vm_dir / "releases").iterdir())
    assert not list(live.vm_dir.glob(".env.*")), "no copy of .env is left beside it"


def test_secret_manager_down_keeps_the_current_env(
    live: Rehearsal, secret_manager: FakeSecretManager
) -> None:
    before = (live.vm_dir / ".env").read_bytes()
    secret_manager.fail(503)
    try:
        release = live.release("current")
    finally:
        secret_manager.reset()

    assert release.returncode == 0, release.stderr
    assert (
        f"could not read the secret {live.secret} from Secret Manager; keeping the current .env"
        in release.stderr
    )
    assert (live.vm_dir / ".env").read_bytes() == before
    assert status_with(live, live.api_key) == 200


def test_a_secret_version_that_breaks_the_service_is_rolled_back(
    live: Rehearsal, secret_manager: FakeSecretManager
) -> None:
    good = secret_manager.latest(live.secret)
    # A setting the service refuses at start (exit 2): the new containers never become healthy.
    secret_manager.add_version(live.secret, good + "OPENAI_TEMPERATURE=hot\n")
    try:
        release = timed(live.release, "current")
    finally:
        secret_manager.add_version(live.secret, good)

    assert release.result.returncode == 1, release.output
    assert "restored the previous .env" in release.result.stderr, release.output
    assert f"rolled back: {live.live_tag()} is live again" in release.result.stderr, release.output
    assert (live.vm_dir / ".env").read_text(encoding="utf-8") == good
    assert status_with(live, live.api_key) == 200
    TIMINGS["bad secret version: detected + rolled back"] = release.seconds


def test_api_key_rotation_keeps_every_client_with_a_valid_key(
    live: Rehearsal, secret_manager: FakeSecretManager, operator_config: Path
) -> None:
    old = live.api_key
    # Step 1: a new key beside the old one. Clients still on the old key are watched throughout.
    with ChatLoad(live, {"old key": old}) as step1:
        added = timed(rotate, live, operator_config, live.secret, "add-api-key")
    assert added.result.returncode == 0, added.output
    new = added.result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", new), "the new key, alone on standard output"
    assert new not in added.result.stderr
    assert env_value(secret_manager.latest(live.secret), "API_KEY") == f"{old},{new}"
    assert status_with(live, old) == 200
    assert status_with(live, new) == 200
    live.api_key = new

    # Step 2: the old key retired by its fingerprint. Clients that moved to the new key are watched meanwhile.
    fingerprint = "sha256:" + hashlib.sha256(old.encode()).hexdigest()[:12]
    with ChatLoad(live, {"new key": new}) as step2:
        retired = timed(rotate, live, operator_config, live.secret, "retire-api-key", fingerprint)
    assert retired.result.returncode == 0, retired.output
    assert env_value(secret_manager.latest(live.secret), "API_KEY") == new
    assert status_with(live, old) == 401
    assert status_with(live, new) == 200

    # Both clients were served throughout both steps: the replicas were replaced one at a time.
    old_tally, new_tally = step1.tallies["old key"], step2.tallies["new key"]
    assert old_tally.ok > 0
    assert new_tally.ok > 0
    assert (old_tally.failed, new_tally.failed) == (0, 0), old_tally.errors[:3] + new_tally.errors[:3]
    figures = {
        "add-api-key (client on the old key)": vars(old_tally),
        "retire-api-key (client on the new key)": vars(new_tally),
        "seconds": {"add-api-key": round(added.seconds, 1), "retire-api-key": round(retired.seconds, 1)},
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "deploy-rotation.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    TIMINGS["rotation step (rotate.sh add-api-key)"] = added.seconds
    TIMINGS["requests failed during add-api-key (old key)"] = float(old_tally.failed)
    TIMINGS["requests failed during retire-api-key (new key)"] = float(new_tally.failed)
    TIMINGS["longest refusal during a rotation step"] = max(old_tally.longest_gap, new_tally.longest_gap)
