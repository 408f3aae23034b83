"""`make up` on a fresh checkout with no OpenAI key: .env and certificate created, stack healthy, the printed
curl call answered from the FAQ; a second `make up` keeps both; a replaced certificate is served after the
next `make up`; `make down` removes the stack."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.conftest import REPO, require_engine
from tests.processes import free_ports

pytestmark = pytest.mark.timeout(900)


def _fresh_checkout(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / name.decode()
        if source.is_file():  # tracked and present in the working tree
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def _served_names(port: int) -> set[str]:
    """The DNS names in the certificate that Nginx serves on this port now."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return set(san.value.get_values_for_type(x509.DNSName))


def test_make_up_on_a_fresh_checkout_without_openai_key(tmp_path: Path) -> None:
    require_engine()
    if shutil.which("make") is None or shutil.which("curl") is None:
        pytest.fail("make and curl are needed (make deps-stack installs curl)")
    checkout = _fresh_checkout(tmp_path / "chatbot-mvp")
    assert not (checkout / ".env").exists()
    assert not (checkout / "certs/fullchain.pem").exists()
    http_port, https_port = free_ports(2)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(tmp_path),
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
        "BIND_ADDRESS": "127.0.0.1",
        "COMPOSE_PROJECT_NAME": f"chatbot-makeup-{secrets.token_hex(4)}",
        # Separate tags: never replace the developer's local/chatbot:dev.
        "TAG": "e2e-make-up",
        # The engine's config (buildx, compose plugins) lives in the real home.
        "DOCKER_CONFIG": str(Path.home() / ".docker"),
    }

    def make(*target: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "--no-print-directory", *target],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    try:
        first = make("up")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        said = first.stdout + first.stderr
        assert "created .env from .env.example with a freshly generated API_KEY" in said
        dotenv = (checkout / ".env").read_text()
        [key] = re.findall(r"^API_KEY=(.*)$", dotenv, flags=re.MULTILINE)
        assert re.fullmatch(r"[0-9a-f]{64}", key)
        assert (checkout / ".env").stat().st_mode & 0o777 == 0o600
        assert re.search(r"^OPENAI_API_KEY=$", dotenv, flags=re.MULTILINE)
        assert (checkout / "certs/privkey.pem").stat().st_mode & 0o777 == 0o600
        assert f"The chatbot is up at https://localhost:{https_port}" in first.stdout

        # The ready-to-paste call works as printed (from the checkout's folder, as a user would run it).
        printed = first.stdout.split("Try it:")[1].strip()
        call = printed.split("\n\n")[0].replace("\\\n", " ")
        assert call.startswith("curl ")
        answered = subprocess.run(
            [*shlex.split(call), "-sS", "--max-time", "30"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answered.returncode == 0, answered.stderr
        # Answered from the example FAQ (no model): the entry on editing the FAQ, not the fallback sentence.
        assert "faq/faq.md" in json.loads(answered.stdout)["reply"]

        ps = make("ps", timeout=60)
        # Two chatbot replicas, nginx, redis, edge-shipper.
        assert ps.stdout.count("(healthy)") == 5, ps.stdout
        # The widget's keys, generated beside API_KEY; the stack's own origin may use the publishable one.
        dotenv = (checkout / ".env").read_text()
        assert re.search(r"^WIDGET_KEY=pk_[0-9a-f]{32}$", dotenv, flags=re.MULTILINE)
        assert re.search(r"^WIDGET_SECRET=[0-9a-f]{64}$", dotenv, flags=re.MULTILINE)
        assert f"WIDGET_ORIGINS=https://localhost:{https_port}\n" in dotenv

        again = make("up")
        assert again.returncode == 0, again.stderr[-3000:]
        assert "created .env" not in again.stdout + again.stderr
        assert "keeping existing" in again.stdout + again.stderr
        assert re.findall(r"^API_KEY=(.*)$", (checkout / ".env").read_text(), flags=re.MULTILINE) == [key]
        assert _served_names(https_port) == {"localhost"}

        # A replaced certificate (a renewal, a real one) is served after the next `make up`.
        env.update(FORCE="1", CERT_HOSTS="renewed.e2e.test")
        assert make("certs", timeout=60).returncode == 0
        del env["FORCE"]
        renewed = make("up")
        assert renewed.returncode == 0, renewed.stderr[-3000:]
        assert _served_names(https_port) == {"localhost", "renewed.e2e.test"}
        assert f"The chatbot is up at https://renewed.e2e.test:{https_port}" in renewed.stdout
    finally:
        down = make("down", timeout=180)
    assert down.returncode == 0, down.stderr
    left = subprocess.run(
        [
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label=com.docker.compose.project={env['COMPOSE_PROJECT_NAME']}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert left.stdout.strip() == ""
