"""Harness for test_certificates.py: a stack of its own with DOMAIN set and certbot on (compose profile
`acme`), asking Pebble (Let's Encrypt's test CA, Debian's binary in a container on the stack's network) for
its certificate; TLS checks of what Nginx serves, verified against Pebble's root as any client does."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import ARTIFACTS, REPO, _image, _in_ci, _write_env, require_engine
from tests.processes import free_ports

COMPOSE_FILES = (REPO / "compose.yaml", REPO / "tests/e2e/compose.certs.yaml")
#: The site's name: an alias of Nginx on the stack's network, where Pebble resolves it.
DOMAIN = "chat.certs.test"


@dataclass(frozen=True)
class AcmeStack:
    """A running stack whose certbot talks to Pebble. `served()` is the certificate Nginx serves for DOMAIN,
    verified against Pebble's root (an SSLError while it is not, e.g. the self-signed placeholder)."""

    project: str
    env: dict[str, str] = field(repr=False)
    https_port: int
    http_port: int
    pebble_url: str
    pebble_ca: Path
    cert_dir: Path

    def compose(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["docker", "compose", "-p", self.project, "--env-file", self.env["E2E_ENV_FILE"]]
        for path in COMPOSE_FILES:
            cmd += ["-f", str(path)]
        cmd += ["--profile", "acme", *args]
        return subprocess.run(
            cmd, cwd=REPO, env=self.env, check=check, capture_output=True, text=True, timeout=timeout
        )

    def set(self, **settings: str) -> None:
        """Changes settings in the stack's env file (they apply to containers created from then on)."""
        path = Path(self.env["E2E_ENV_FILE"])
        lines = [line for line in path.read_text().splitlines() if line.split("=", 1)[0] not in settings]
        path.write_text("".join(f"{line}\n" for line in lines + [f"{k}={v}" for k, v in settings.items()]))

    def logs(self, service: str) -> list[dict[str, Any]]:
        out = self.compose("logs", "--no-color", "--no-log-prefix", service).stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def wait_for_log(self, service: str, needle: str, severity: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for record in self.logs(service):
                if record.get("severity") == severity and needle in record.get("message", ""):
                    return record
            if time.monotonic() > deadline:
                pytest.fail(f"no {severity} line with {needle!r} from {service} within {timeout} s")
            time.sleep(0.5)

    def root(self) -> str:
        """Pebble's root certificate (PEM), from its management API (a new one each time Pebble starts)."""
        verify = ssl.create_default_context(cafile=str(self.pebble_ca))
        return httpx.get(f"{self.pebble_url}/roots/0", verify=verify, timeout=10).text

    def served(self, root: str, path: str = "/healthz") -> tuple[int, x509.Certificate]:
        """(status of GET path, the certificate) over a new TLS connection to Nginx, verified for DOMAIN."""
        context = ssl.create_default_context(cadata=root)
        with (
            socket.create_connection(("127.0.0.1", self.https_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
        ):
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
            status = int(tls.recv(4096).split(b" ", 2)[1])
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return status, x509.load_der_x509_certificate(der)

    def wait_served(
        self, root: str, timeout: float = 60, *, other_than: int | None = None
    ) -> x509.Certificate:
        """The first certificate served that verifies (and whose serial is not `other_than`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                _, cert = self.served(root)
                if cert.serial_number != other_than:
                    return cert
            except (ssl.SSLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no certificate chained to Pebble's root was served within {timeout} s")
            time.sleep(0.3)


@dataclass
class Poller:
    """GET /healthz over a new verified TLS connection every 0.1 s, in a thread: what a client would see."""

    stack: AcmeStack
    root: str
    serials: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, cert = self.stack.served(self.root)
                self.serials.append(cert.serial_number)
                if status != 200:
                    self.failures.append(f"HTTP {status}")
            except (ssl.SSLError, OSError, ValueError, IndexError) as error:
                self.failures.append(repr(error))
            self._stop.wait(0.1)

    @contextmanager
    def running(self) -> Iterator[Poller]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(10)


def certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey],
    *,
    ca: bool = False,
    names: tuple[str, ...] = (),
) -> bytes:
    """A PEM certificate for `key`, valid for a day, signed by the issuer's key; `names` for its SAN."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0])
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        # Python 3.13's default verification is strict (RFC 5280): it wants both key identifiers.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False
        )
    )
    unused = ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement")
    usage = dict.fromkeys((*unused, "encipher_only", "decipher_only"), False)
    builder = builder.add_extension(
        x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, **usage), critical=True
    )
    if names:
        san: list[x509.GeneralName] = [x509.DNSName(n) for n in names if not n[0].isdigit()]
        san += [x509.IPAddress(ipaddress.ip_address(n)) for n in names if n[0].isdigit()]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer[1], hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def name(common: str, org: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attributes)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pebble_files(folder: Path) -> Path:
    """Pebble's config and its own HTTPS certificate (for the name `pebble`), signed by a throwaway CA whose
    certificate certbot and the test trust (ca.pem)."""
    folder.mkdir(parents=True)
    ca_key, key = new_key(), new_key()
    ca = (name("pebble test CA"), ca_key)
    (folder / "ca.pem").write_bytes(certificate(ca[0], ca_key, ca, ca=True))
    names = ("pebble", "acme.certs.test", "127.0.0.1")
    (folder / "cert.pem").write_bytes(certificate(name("pebble"), key, ca, names=names))
    (folder / "key.pem").write_bytes(key_pem(key))
    config = {
        "listenAddress": "0.0.0.0:14000",
        "managementListenAddress": "0.0.0.0:15000",
        "certificate": "/pebble/cert.pem",
        "privateKey": "/pebble/key.pem",
        # The challenge is fetched from DOMAIN's port 80: Nginx's, on the stack's network.
        "httpPort": 80,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }
    (folder / "config.json").write_text(json.dumps({"pebble": config}))
    return folder


@contextmanager
def acme_stack(tmp: Path) -> Iterator[AcmeStack]:
    """Starts the stack (the placeholder certificate first, like `make up`); logs saved, removed on exit."""
    require_engine()
    pebble = shutil.which("pebble")
    if pebble is None:
        if _in_ci():
            pytest.fail("pebble is missing: make deps-certs installs it")
        pytest.skip("pebble is not installed (apt-get install pebble, or make deps-certs)")
    cert_dir = tmp / "certs"
    subprocess.run(
        [str(REPO / "scripts/certs.sh")],
        env={**os.environ, "CERT_DIR": str(cert_dir), "DOMAIN": DOMAIN, "CERT_HOSTS": ""},
        check=True,
        capture_output=True,
        timeout=60,
    )
    http_port, https_port, pebble_port = free_ports(3)
    env_file = tmp / "stack.env"
    stack_vars = {
        "API_KEY": secrets.token_urlsafe(24),
        "WORKERS": "1",
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
        "BIND_ADDRESS": "127.0.0.1",
        "DOMAIN": DOMAIN,
        "ACME_EMAIL": "ops@certs.test",
        "ACME_SERVER": "https://pebble:14000/dir",
        "REGISTRY": "local",
        "TAG": os.environ.get("E2E_TAG", "e2e"),
        "PYTHON_IMAGE": _image("PYTHON_IMAGE", "local/python:3.13-slim", "python:3.13-slim"),
        "NGINX_IMAGE": _image("NGINX_IMAGE", "local/nginx:stable", "nginx:stable"),
        "REDIS_IMAGE": _image("REDIS_IMAGE", "local/redis:7", "redis:7-alpine"),
        "CERTBOT_IMAGE": _image("CERTBOT_IMAGE", "local/certbot:latest", "certbot/certbot:latest"),
        "E2E_ENV_FILE": str(env_file),
        "E2E_CERT_DIR": str(cert_dir),
        "E2E_PEBBLE_DIR": str(pebble_files(tmp / "pebble")),
        "E2E_PEBBLE_BIN": pebble,
        "E2E_PEBBLE_PORT": str(pebble_port),
    }
    _write_env(env_file, stack_vars)
    # The shell environment outranks --env-file in compose: drop anything that would override ours.
    env = {k: v for k, v in os.environ.items() if k not in stack_vars and not k.startswith("COMPOSE_")}
    env["E2E_ENV_FILE"] = str(env_file)
    stack = AcmeStack(
        project=f"chatbot-acme-{secrets.token_hex(4)}",
        env=env,
        https_port=https_port,
        http_port=http_port,
        pebble_url=f"https://127.0.0.1:{pebble_port}",
        pebble_ca=tmp / "pebble/ca.pem",
        cert_dir=cert_dir,
    )
    try:
        up = stack.compose("up", "-d", "--build", "--wait", "--wait-timeout", "240", check=False, timeout=600)
        if up.returncode != 0:
            pytest.fail(f"the ACME stack did not come up:\n{up.stderr[-4000:]}")
        yield stack
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        logs = stack.compose("logs", "--no-color", "--timestamps", check=False, timeout=60)
        (ARTIFACTS / "acme-stack.log").write_text(logs.stdout + logs.stderr, encoding="utf-8")
        stack.compose("down", "-v", "--remove-orphans", "-t", "3", check=False, timeout=180)
