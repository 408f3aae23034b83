"""Nginx in front of the chatbot: redirect to HTTPS, the TLS profile, HSTS, no version, the certificate."""

from __future__ import annotations

import socket
import ssl
import warnings

import httpx
import pytest
from cryptography import x509

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.timeout(600)


def _handshake(
    stack: Stack,
    version: ssl.TLSVersion,
    *,
    ciphers: str | None = None,
    alpn: list[str] | None = None,
) -> ssl.SSLSocket:
    """A finished TLS handshake with exactly `version` (the client's own floor lowered, so that a refusal
    comes from the server, not from this machine's OpenSSL policy)."""
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated: that is the point
        context.minimum_version = version
        context.maximum_version = version
    context.set_ciphers(ciphers or "DEFAULT:@SECLEVEL=0")
    if alpn:
        context.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", stack.https_port), timeout=10)
    try:
        return context.wrap_socket(raw, server_hostname=stack.host)
    except BaseException:
        raw.close()
        raise


@pytest.mark.parametrize(
    ("path", "query"),
    [("/", ""), ("/chat", ""), ("/api-docs/openapi.json", "?x=1&y=%C3%A9"), ("/nginx-health", "")],
)
def test_http_redirects_to_https_keeping_host_path_query_and_port(
    stack: Stack, path: str, query: str
) -> None:
    response = httpx.get(f"{stack.http_url}{path}{query}", follow_redirects=False, timeout=10)
    assert response.status_code == 301
    assert response.headers["location"] == f"https://{stack.host}:{stack.https_port}{path}{query}"


def test_redirect_keeps_the_host_the_client_used(stack: Stack) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{stack.http_port}/healthz", headers={"Host": "chatbot.e2e.test"}, timeout=10
    )
    assert response.status_code == 301
    assert response.headers["location"] == f"https://chatbot.e2e.test:{stack.https_port}/healthz"


def test_plain_http_on_the_https_port_is_redirected(stack: Stack) -> None:
    response = httpx.get(f"http://{stack.host}:{stack.https_port}/healthz", timeout=10)
    assert response.status_code == 301
    assert response.headers["location"] == f"{stack.https_url}/healthz"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_are_refused_by_the_server(stack: Stack, version: ssl.TLSVersion) -> None:
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(stack, version).close()
    # The server's alert, not "no protocols available" from this side.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)
    assert any(
        s in str(refused.value) for s in ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "protocol version")
    )


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_12_and_13_are_accepted_with_forward_secret_aead_suites(
    stack: Stack, version: ssl.TLSVersion
) -> None:
    with _handshake(stack, version) as tls:
        assert (
            tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
        )
        cipher = tls.cipher()
        assert cipher is not None
        name = cipher[0]
        # TLS 1.3 suites are all AEAD with (EC)DHE; TLS 1.2 ones must be ECDHE with GCM or ChaCha20.
        if version is ssl.TLSVersion.TLSv1_2:
            assert name.startswith("ECDHE-"), name
            assert "GCM" in name or "CHACHA20" in name, name


@pytest.mark.parametrize(
    "cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"]
)
def test_tls_12_suites_outside_the_intermediate_profile_are_refused(stack: Stack, cipher: str) -> None:
    with pytest.raises(ssl.SSLError, match=r"HANDSHAKE_FAILURE|handshake failure|NO_SHARED_CIPHER"):
        _handshake(stack, ssl.TLSVersion.TLSv1_2, ciphers=f"{cipher}:@SECLEVEL=0").close()


def test_http2_is_offered(stack: Stack) -> None:
    with _handshake(stack, ssl.TLSVersion.TLSv1_3, alpn=["h2", "http/1.1"]) as tls:
        assert tls.selected_alpn_protocol() == "h2"


def test_certificate_names_localhost_loopback_and_cert_hosts(stack: Stack) -> None:
    with _handshake(stack, ssl.TLSVersion.TLSv1_3) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    names = set(san.value.get_values_for_type(x509.DNSName))
    addresses = {str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)}
    assert names == {"localhost", "chatbot.e2e.test"}
    assert addresses == {"127.0.0.1", "192.0.2.10"}


def test_hsts_and_no_version_on_answers_and_on_nginx_own_errors(stack: Stack) -> None:
    with stack.client() as client:
        ok = client.get("/healthz")
        too_large = client.post("/chat", content=b"x" * 70_000, headers={"x-api-key": stack.api_key})
    assert ok.status_code == 200
    assert too_large.status_code == 413
    for response in (ok, too_large):
        hsts = response.headers["strict-transport-security"]
        assert hsts.startswith("max-age=63072000")
        assert response.headers.get("server", "nginx") == "nginx"
        assert "nginx/" not in response.text


def test_certificate_files_are_created_with_safe_modes(stack: Stack) -> None:
    key = stack.ca_file.with_name("privkey.pem")
    assert key.stat().st_mode & 0o777 == 0o600
    assert stack.ca_file.stat().st_mode & 0o777 == 0o644


def _upstream_connections(stack: Stack) -> set[str]:
    """Nginx's established TCP connections to the chatbot's port 3000, by local address:port."""
    tables = stack.compose(
        "exec", "-T", "nginx", "sh", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true"
    ).stdout
    established = set()
    for line in tables.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2].endswith(":0BB8") and fields[3] == "01":
            established.add(fields[1])
    return established


def test_nginx_keeps_its_connections_to_the_chatbot_alive_and_reuses_them(stack: Stack) -> None:
    with stack.client() as client:
        for _ in range(10):
            assert client.get("/healthz").status_code == 200
    idle = _upstream_connections(stack)
    # Still open once the requests are over: a keepalive pool, not one connection per request.
    assert idle
    with stack.client() as client:
        for _ in range(10):
            assert client.get("/healthz").status_code == 200
    assert idle & _upstream_connections(stack)
