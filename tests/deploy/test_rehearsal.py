"""The deploy rehearsed end to end: build and push under a commit id, ship over SSH, roll back a bad release.

The steps are the workflow's own scripts (deploy/build-push.sh, deploy/release.sh, which runs deploy/deploy.sh
on the VM), run against the docker-sandbox registry and sshd (see conftest.py).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.harness import IMAGES, MOVING_TAG, REPO, TIMINGS, Outcome, Rehearsal, timed
from tests.traffic import Traffic

pytestmark = [pytest.mark.deploy, pytest.mark.timeout(900)]

#: What the image build needs (the chatbot's and Nginx's contexts, the bake file and its script).
BUILD_INPUTS = (
    "chatbot",
    "widget",
    "nginx",
    "deploy",
    "faq",
    "compose.yaml",
    "pyproject.toml",
    "requirements.lock",
    ".dockerignore",
)


def _chat(rehearsal: Rehearsal, message: str) -> str:
    with rehearsal.client() as client:
        response = client.post("/chat", json={"message": message}, headers={"x-api-key": rehearsal.api_key})
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert isinstance(reply, str)
    return reply


def test_first_release_is_live_over_https(
    rehearsal: Rehearsal, first_release: tuple[Outcome, Outcome]
) -> None:
    _, release = first_release
    assert release.result.returncode == 0, release.output
    tag = rehearsal.first_tag
    # Both images under the commit id and the moving tag, in the registry the VM pulled from.
    for image in ("chatbot", "chatbot-nginx"):
        assert {tag, MOVING_TAG} <= set(rehearsal.registry_tags(image)), image
        expected = f"{rehearsal.registry}/{image}:{tag}"
        assert rehearsal.running_image(image.removeprefix("chatbot-")) == expected
    assert rehearsal.live_tag() == tag
    with rehearsal.client() as client:
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        root = client.get("/")
        assert root.status_code == 200
        assert "Chatbot MVP est en cours d'exécution." in root.text
        denied = client.post("/chat", json={"message": "hello"}, headers={"x-api-key": "wrong"})
        assert denied.status_code == 401
    # The fake OpenAI echoes the message: the reply went through Nginx, the chatbot and the upstream.
    assert "first release answers" in _chat(rehearsal, "first release answers")


def _broken_source(tmp_path: Path) -> Path:
    """A copy of the build inputs whose app crashes at import, as a bad commit would."""
    source = tmp_path / "broken-source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    with (source / "chatbot/app.py").open("a", encoding="utf-8") as app:
        app.write('\nraise RuntimeError("deliberately broken release")\n')
    return source


def test_broken_release_is_rolled_back(
    rehearsal: Rehearsal, first_release: tuple[Outcome, Outcome], tmp_path: Path
) -> None:
    assert first_release[1].result.returncode == 0, "the first release must be live to roll back to it"
    broken_tag = hashlib.sha1(f"{rehearsal.first_tag}-broken".encode()).hexdigest()  # noqa: S324
    build = timed(rehearsal.build_push, broken_tag, source=_broken_source(tmp_path))
    assert build.result.returncode == 0, build.output
    before = {name: rehearsal.started_at(name) for name in rehearsal.containers("chatbot")}
    edge = rehearsal.started_at(*rehearsal.containers("nginx"))

    with Traffic(rehearsal) as traffic:
        release = timed(rehearsal.release, broken_tag)

    # Clients never noticed: the broken replica never got a request, the running ones kept serving.
    traffic.assert_all_served()
    assert {name: rehearsal.started_at(name) for name in rehearsal.containers("chatbot")} == before
    assert rehearsal.started_at(*rehearsal.containers("nginx")) == edge
    # The workflow turns red...
    assert release.result.returncode == 1, release.output
    assert f"rolled back: {rehearsal.first_tag} is live again" in release.result.stderr, release.output
    # ...because the broken one really ran and crashed (its traceback is in the deploy log)...
    assert "deliberately broken release" in release.result.stderr, release.output
    # ...and the previous version is the one running and answering.
    assert rehearsal.live_tag() == rehearsal.first_tag
    assert rehearsal.running_image("chatbot") == f"{rehearsal.registry}/chatbot:{rehearsal.first_tag}"
    assert rehearsal.running_image("nginx") == f"{rehearsal.registry}/chatbot-nginx:{rehearsal.first_tag}"
    assert "still answering" in _chat(rehearsal, "still answering after the rollback")
    log = (rehearsal.vm_dir / "releases.log").read_text(encoding="utf-8")
    assert broken_tag not in log

    rollback = re.search(r"is live again \((\d+)s\)", release.result.stderr)
    assert rollback is not None
    TIMINGS["failed release: detected + rolled back"] = release.seconds
    TIMINGS["rollback alone (previous back to healthy)"] = float(rollback.group(1))
    for what, value in traffic.figures().items():
        TIMINGS[f"failed release and rollback: {what}"] = value


def _foreign_known_hosts(rehearsal: Rehearsal, tmp_path: Path, entry_host: str) -> Path:
    key = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"{entry_host} {key.with_suffix('.pub').read_text().strip()}\n", encoding="utf-8")
    return known_hosts


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("changed", id="another-key-for-this-host"),
        pytest.param("unknown", id="no-key-for-this-host"),
    ],
)
def test_unknown_host_key_is_refused(rehearsal: Rehearsal, tmp_path: Path, case: str) -> None:
    sandbox = rehearsal.sandbox
    this_host = f"[{sandbox.ssh_host}]:{sandbox.ssh_port}"
    known_hosts = _foreign_known_hosts(
        rehearsal, tmp_path, this_host if case == "changed" else "[vm.example.invalid]:22"
    )
    tag = hashlib.sha1(f"{rehearsal.name}-{case}".encode()).hexdigest()  # noqa: S324

    release = rehearsal.release(tag, known_hosts=known_hosts)

    assert release.returncode != 0
    assert "Host key verification failed" in release.stderr, release.stderr
    # Nothing reached the VM: no release folder was created, the live release did not change.
    assert not (rehearsal.vm_dir / "releases" / tag).exists()
    assert not any(p.name.startswith(f"{tag}.incoming") for p in (rehearsal.vm_dir / "releases").glob("*"))


def test_old_releases_are_pruned_and_the_previous_kept(
    rehearsal: Rehearsal, first_release: tuple[Outcome, Outcome]
) -> None:
    assert first_release[1].result.returncode == 0, "needs the first release"
    later = [hashlib.sha1(f"{rehearsal.first_tag}-later-{n}".encode()).hexdigest() for n in (1, 2)]  # noqa: S324
    edge = rehearsal.started_at(*rehearsal.containers("nginx"))
    for tag in later:
        rehearsal.retag_push(rehearsal.first_tag, tag)
        replicas = rehearsal.containers("chatbot")
        with Traffic(rehearsal) as traffic:
            release = timed(rehearsal.release, tag, keep=2)
        assert release.result.returncode == 0, release.output
        # No downtime: every chat answered, every streamed reply finished, while each replica was replaced...
        traffic.assert_all_served()
        now = rehearsal.containers("chatbot")
        assert len(now) == len(replicas) == 2
        assert not set(now) & set(replicas)
        for what, value in traffic.figures().items():
            TIMINGS[f"release under load: {what}"] = TIMINGS.get(f"release under load: {what}", 0) + value
        TIMINGS["release under load: seconds"] = release.seconds
    # ...and Nginx, whose image did not change, kept running (and kept its clients' connections).
    assert rehearsal.started_at(*rehearsal.containers("nginx")) == edge
    assert "nginx: the image of" in release.result.stderr

    releases = {p.name for p in (rehearsal.vm_dir / "releases").iterdir() if p.is_dir()}
    # The live release and the one before it stay, for a rollback; older ones (and failed ones) go.
    assert releases == set(later)
    assert rehearsal.live_tag() == later[1]
    for image in IMAGES:
        assert rehearsal.has_image(f"{rehearsal.registry}/{image}:{later[0]}")
    assert not rehearsal.has_image(f"{rehearsal.registry}/chatbot:{rehearsal.first_tag}")
    # The running Nginx was created from the first release's image: its name stays while it runs.
    assert rehearsal.running_image("nginx") == f"{rehearsal.registry}/chatbot-nginx:{rehearsal.first_tag}"
    assert rehearsal.has_image(rehearsal.running_image("nginx"))
    assert "still live" in _chat(rehearsal, "still live after pruning")
