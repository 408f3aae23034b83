"""A certificate for DOMAIN from an ACME CA, end to end: Pebble (Let's Encrypt's test CA) validates HTTP-01
through the stack's Nginx; the certificate is served and verifies against Pebble's root; a forced renewal is
served without a failed request; a CA that fails leaves the certificate served and logs an ERROR; so does
a pair that does not load; a certificate placed by hand is never replaced. One stack for the module
(tests/e2e/acme.py), in this order."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tests.e2e.acme import DOMAIN, AcmeStack, Poller, acme_stack, certificate, key_pem, name, new_key

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeStack]:
    with acme_stack(tmp_path_factory.mktemp("acme")) as stack:
        yield stack


@pytest.fixture(scope="module")
def root(acme: AcmeStack) -> str:
    return acme.root()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_certificate_is_obtained_over_http_01_and_served(acme: AcmeStack, root: str) -> None:
    cert = acme.wait_served(root)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [DOMAIN]
    assert acme.served(root, "/healthz")[0] == 200
    record = acme.wait_for_log("certbot", f"obtained a certificate for {DOMAIN}", "INFO")
    assert record["logger"] == "certbot"
    acme.wait_for_log("certbot", "installed the certificate", "INFO")
    assert (acme.cert_dir / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert (acme.cert_dir / "fullchain.pem").stat().st_mode & 0o777 == 0o644
    acme.wait_for_log("nginx", "nginx reloaded", "INFO")


def test_port_80_answers_challenges_and_redirects_the_rest_to_domain(acme: AcmeStack) -> None:
    base = f"http://127.0.0.1:{acme.http_port}"
    missing = httpx.get(f"{base}/.well-known/acme-challenge/no-such-token", timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"error": "Ressource introuvable."}
    redirected = httpx.get(f"{base}/chat?x=1", headers={"Host": "evil.example"}, timeout=10)
    assert redirected.status_code == 301
    assert redirected.headers["location"] == f"https://{DOMAIN}:{acme.https_port}/chat?x=1"


def test_a_forced_renewal_is_served_without_a_failed_request(acme: AcmeStack, root: str) -> None:
    before = acme.wait_served(root)
    with Poller(acme, root).running() as poller:
        time.sleep(1)
        renewal = acme.compose(
            "exec", "-T", "certbot", "certbot", "renew", "--force-renewal", "--no-random-sleep-on-renew"
        )
        assert "Congratulations" in renewal.stdout + renewal.stderr
        renewed = acme.wait_served(root, timeout=30, other_than=before.serial_number)
        time.sleep(1)
    assert poller.failures == []
    # Both certificates were served to the poller, the old one then the new one, never going back.
    assert poller.serials[0] == before.serial_number
    assert poller.serials[-1] == renewed.serial_number
    switch = poller.serials.index(renewed.serial_number)
    assert set(poller.serials[switch:]) == {renewed.serial_number}
    assert len(poller.serials) > 20


def test_another_acme_server_replaces_the_certificate_at_once(acme: AcmeStack, root: str) -> None:
    before = acme.wait_served(root)
    # As when going from staging to production: the same CA (Pebble) under another directory URL.
    acme.set(ACME_SERVER="https://acme.certs.test:14000/dir")
    acme.compose("up", "-d", "--no-deps", "certbot")
    acme.wait_for_log("certbot", f"obtained a certificate for {DOMAIN} from https://acme.certs.test", "INFO")
    acme.wait_served(root, timeout=30, other_than=before.serial_number)
    # Renewals go to the new directory from now on (not another new certificate at each pass).
    renewal_conf = (acme.cert_dir / f"letsencrypt/renewal/{DOMAIN}.conf").read_text()
    assert "server = https://acme.certs.test:14000/dir\n" in renewal_conf


def test_a_failing_ca_keeps_the_certificate_served_and_logs_an_error(acme: AcmeStack, root: str) -> None:
    served = acme.wait_served(root)
    on_disk = _digest(acme.cert_dir / "fullchain.pem")
    acme.compose("stop", "pebble")
    # Due for renewal now (certbot's own setting, in the lineage's renewal file); a pass now (SIGHUP).
    renewal_conf = acme.cert_dir / f"letsencrypt/renewal/{DOMAIN}.conf"
    settings = re.sub(r"^#? *renew_before_expiry.*$", "", renewal_conf.read_text(), flags=re.MULTILINE)
    renewal_conf.write_text("renew_before_expiry = 3650 days\n" + settings)
    acme.compose("kill", "-s", "HUP", "certbot")
    error = acme.wait_for_log("certbot", f"renewal of the certificate for {DOMAIN} failed", "ERROR")
    assert "Nginx keeps serving the current certificate" in error["message"]
    assert error["served_until"]
    assert error["certbot_output"]
    time.sleep(6)  # a reload would have happened by now (Nginx looks every 5 s)
    status, still = acme.served(root)
    assert status == 200
    assert still.serial_number == served.serial_number
    assert _digest(acme.cert_dir / "fullchain.pem") == on_disk


def test_a_pair_that_does_not_load_is_not_taken_and_says_why(acme: AcmeStack, root: str) -> None:
    served = acme.wait_served(root)
    key, other = new_key(), new_key()
    # A certificate for one key beside another key: Nginx would refuse to start on it.
    (acme.cert_dir / "privkey.pem").write_bytes(key_pem(key))
    (acme.cert_dir / "fullchain.pem").write_bytes(certificate(name(DOMAIN), other, (name(DOMAIN), other)))
    error = acme.wait_for_log("nginx", "the configuration does not load", "ERROR", timeout=30)
    assert "nginx keeps serving the previous certificate" in error["message"]
    assert acme.served(root)[1].serial_number == served.serial_number


def test_a_certificate_placed_by_hand_is_served_and_never_replaced(acme: AcmeStack) -> None:
    key = new_key()
    bought = certificate(
        name(DOMAIN, "Bought elsewhere"), key, (name(DOMAIN, "Bought elsewhere"), key), names=(DOMAIN,)
    )
    # Dropped in as a user would, key first; Nginx reloads on its own.
    (acme.cert_dir / "privkey.pem").write_bytes(key_pem(key))
    (acme.cert_dir / "fullchain.pem").write_bytes(bought)
    acme.wait_served(bought.decode(), timeout=20)
    # certbot's deploy hook, as a renewal runs it, then a pass of the loop: neither replaces it.
    hook = acme.compose("exec", "-T", "certbot", "python3", "/opt/chatbot-certbot/certificates.py", "install")
    assert "not installed: certs/ holds a certificate placed by hand" in hook.stdout
    acme.compose("kill", "-s", "HUP", "certbot")
    acme.wait_for_log("certbot", "certs/ holds a certificate placed by hand", "INFO", timeout=20)
    assert (acme.cert_dir / "fullchain.pem").read_bytes() == bought
    assert acme.served(bought.decode())[0] == 200
