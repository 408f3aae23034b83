"""certbot/certificates.py's rule for certs/: make certs' placeholder and certificates this certbot issued are
replaced, anything placed by hand is not; and its settings. End to end: tests/e2e/test_certificates.py."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "chat.example.com"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("certbot_certificates", REPO / "certbot/certificates.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


certificates = _load()


def _self_signed(org: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    base = certificates.Settings.from_env({"DOMAIN": DOMAIN})
    return dataclasses.replace(base, certs=tmp_path / "certs", letsencrypt=tmp_path / "letsencrypt")


def _issue(settings: Any, version: int = 1) -> tuple[bytes, bytes]:
    """A lineage as certbot lays it out: archive/NAME/*N.pem, live/NAME/* pointing at the latest."""
    chain, key = _self_signed("Pebble")
    root: Path = settings.letsencrypt
    archive, live = root / "archive" / DOMAIN, root / "live" / DOMAIN
    archive.mkdir(parents=True, exist_ok=True)
    live.mkdir(parents=True, exist_ok=True)
    for name, data in (("fullchain", chain), ("cert", chain), ("privkey", key)):
        (archive / f"{name}{version}.pem").write_bytes(data)
        link = live / f"{name}.pem"
        link.unlink(missing_ok=True)
        link.symlink_to(f"../../archive/{DOMAIN}/{name}{version}.pem")
    return chain, key


def _place(settings: Any, chain: bytes, key: bytes) -> None:
    certs: Path = settings.certs
    certs.mkdir(parents=True, exist_ok=True)
    (certs / "fullchain.pem").write_bytes(chain)
    (certs / "privkey.pem").write_bytes(key)


def test_make_certs_placeholder_is_replaced_by_the_issued_certificate(settings: Any) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to run scripts/certs.sh")
    certs: Path = settings.certs
    subprocess.run(
        [str(REPO / "scripts/certs.sh")],
        env={**os.environ, "CERT_DIR": str(certs), "DOMAIN": DOMAIN, "CERT_HOSTS": "192.0.2.10"},
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert certificates.classify(settings) == "placeholder"
    chain, key = _issue(settings)
    assert certificates.install(settings)
    assert (certs / "fullchain.pem").read_bytes() == chain
    assert (certs / "privkey.pem").read_bytes() == key
    assert (certs / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert (certs / "fullchain.pem").stat().st_mode & 0o777 == 0o644
    assert certificates.classify(settings) == "acme"
    assert not certificates.install(settings)  # nothing new: nothing written


def test_an_issued_certificate_is_replaced_by_its_renewal(settings: Any) -> None:
    _place(settings, *_issue(settings, 1))
    renewed, _ = _issue(settings, 2)
    assert certificates.classify(settings) == "acme"
    assert certificates.install(settings)
    assert (settings.certs / "fullchain.pem").read_bytes() == renewed


@pytest.mark.parametrize("org", ["Bought elsewhere", "chatbot-mvp"])
def test_a_certificate_placed_by_hand_is_never_replaced(settings: Any, org: str) -> None:
    hand = _self_signed(org)
    _place(settings, *hand)
    _issue(settings)
    assert certificates.classify(settings) == "hand"
    assert not certificates.install(settings)
    assert (settings.certs / "fullchain.pem").read_bytes() == hand[0]
    assert (settings.certs / "privkey.pem").read_bytes() == hand[1]


def test_a_file_that_is_no_certificate_counts_as_placed_by_hand(settings: Any) -> None:
    _place(settings, b"not a certificate\n", b"nor a key\n")
    assert certificates.classify(settings) == "hand"


def test_no_certificate_at_all_is_filled_in(settings: Any) -> None:
    assert certificates.classify(settings) == "missing"
    chain, _ = _issue(settings)
    assert certificates.install(settings)
    assert (settings.certs / "fullchain.pem").read_bytes() == chain


def test_another_names_lineage_is_not_installed(settings: Any, tmp_path: Path) -> None:
    _issue(settings)
    other = tmp_path / "letsencrypt/live/old.example.com"
    shutil.copytree(tmp_path / f"letsencrypt/live/{DOMAIN}", other, symlinks=False)
    assert not certificates.install(settings, other)
    assert certificates.classify(settings) == "missing"


@pytest.mark.parametrize(
    ("value", "server"),
    [
        ("", "https://acme-v02.api.letsencrypt.org/directory"),
        ("production", "https://acme-v02.api.letsencrypt.org/directory"),
        ("staging", "https://acme-staging-v02.api.letsencrypt.org/directory"),
        ("https://pebble:14000/dir", "https://pebble:14000/dir"),
    ],
)
def test_acme_server_names_the_directory(value: str, server: str) -> None:
    assert certificates.Settings.from_env({"DOMAIN": DOMAIN, "ACME_SERVER": value}).server == server


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "DOMAIN"),
        ({"DOMAIN": "https://chat.example.com"}, "DOMAIN"),
        ({"DOMAIN": "chat.example.com:8443"}, "DOMAIN"),
        ({"DOMAIN": "203.0.113.10"}, "DOMAIN"),
        ({"DOMAIN": "localhost"}, "DOMAIN"),
        ({"DOMAIN": DOMAIN, "ACME_SERVER": "http://acme.example/dir"}, "ACME_SERVER"),
        ({"DOMAIN": DOMAIN, "ACME_SERVER": "prod"}, "ACME_SERVER"),
    ],
)
def test_wrong_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        certificates.Settings.from_env(env)
