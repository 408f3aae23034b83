"""Nginx's lines as Cloud Logging entries: the fields a query in the Logs Explorer relies on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chatbot.shipper.entries import access_entry, error_entry

ACCESS = {
    "time": "2026-11-25T18:22:46.123+01:00",
    "severity": "INFO",
    "logger": "nginx.access",
    "message": "POST /chat 200",
    "request_id": "4b89219f864a43308e5a6deb3245355c",
    "httpRequest": {
        "requestMethod": "POST",
        "requestUrl": "https://h/chat",
        "status": 200,
        "latency": "0.004s",
    },
    "upstream": {"addr": "172.18.0.3:3000", "status": "200"},
    "tls": "TLSv1.3",
}


def test_an_access_line_keeps_its_severity_request_and_id_as_a_label() -> None:
    entry = access_entry(json.dumps(ACCESS), "id-1")
    kwargs = entry.log_struct_kwargs()
    assert kwargs["severity"] == "INFO"
    assert kwargs["http_request"] == ACCESS["httpRequest"]
    assert kwargs["labels"] == {"request_id": "4b89219f864a43308e5a6deb3245355c"}
    assert kwargs["insert_id"] == "id-1"
    # UTC, to the millisecond: the library drops a datetime's zone when it writes it.
    assert kwargs["timestamp"] == datetime(2026, 11, 25, 17, 22, 46, 123000, tzinfo=UTC)
    assert entry.payload == {
        "logger": "nginx.access",
        "message": "POST /chat 200",
        "request_id": "4b89219f864a43308e5a6deb3245355c",
        "upstream": {"addr": "172.18.0.3:3000", "status": "200"},
        "tls": "TLSv1.3",
    }


def test_an_access_line_without_a_severity_gets_one_from_its_status() -> None:
    line = {**ACCESS, "severity": None, "httpRequest": {**ACCESS["httpRequest"], "status": 503}}  # type: ignore[dict-item]
    assert access_entry(json.dumps(line), "x").severity == "ERROR"


def test_a_line_that_is_not_json_is_shipped_whole_as_a_warning() -> None:
    entry = access_entry('{"truncated', "x")
    assert entry.severity == "WARNING"
    assert entry.payload["message"] == '{"truncated'
    assert entry.labels == {}


def test_an_error_line_gets_its_level_as_severity_and_its_parts_as_fields() -> None:
    line = (
        "2026/11/25 17:22:46 [crit] 29#29: *1041 SSL_do_handshake() failed (SSL: error:0A00006C:SSL "
        "routines::bad key share) while SSL handshaking, client: 203.0.113.9, server: 0.0.0.0:443, "
        'request: "GET / HTTP/1.1"'
    )
    entry = error_entry(line, "e-1")
    assert entry.severity == "CRITICAL"
    assert entry.timestamp == datetime(2026, 11, 25, 17, 22, 46, tzinfo=UTC)
    assert entry.payload["logger"] == "nginx.error"
    assert entry.payload["message"].startswith("SSL_do_handshake() failed")
    assert entry.payload["pid"] == 29
    assert entry.payload["connection"] == 1041
    assert entry.payload["client"] == "203.0.113.9"
    assert entry.payload["request"] == "GET / HTTP/1.1"
    assert entry.http_request is None


def test_every_nginx_level_maps_to_a_cloud_logging_severity() -> None:
    expected = {
        "warn": "WARNING",
        "error": "ERROR",
        "crit": "CRITICAL",
        "alert": "ALERT",
        "emerg": "EMERGENCY",
    }
    for level, severity in expected.items():
        line = f"2026/01/02 03:04:05 [{level}] 1#1: worker process 35 exited on signal 9"
        assert error_entry(line, "x").severity == severity


def test_an_error_line_in_another_format_is_kept_whole() -> None:
    entry = error_entry("nginx: [emerg] unknown directive", "x")
    assert entry.severity == "ERROR"
    assert entry.payload == {"logger": "nginx.error", "message": "nginx: [emerg] unknown directive"}
