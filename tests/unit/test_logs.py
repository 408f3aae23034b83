from __future__ import annotations

import io
import json
import logging

import pytest

from chatbot.logs import CloudRecordFilter, RequestIdFilter, _formatter, access_record, request_id_var


def test_access_record_has_cloud_loggings_field_names() -> None:
    record = access_record(
        method="POST",
        url="/chat",
        status=200,
        latency_s=0.0123456,
        user_agent="ua",
        remote_ip="1.2.3.4",
        size=10,
    )
    assert record == {
        "requestMethod": "POST",
        "requestUrl": "/chat",
        "status": 200,
        "latency": "0.012346s",
        "userAgent": "ua",
        "remoteIp": "1.2.3.4",
        "responseSize": "10",
    }


@pytest.fixture
def stream_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_formatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("test.json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_stdout_line_is_json_with_severity_and_request_id(
    stream_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = stream_logger
    token = request_id_var.set("rid-7")
    try:
        logger.warning("hello %s", "world", extra={"cause": "x"})
    finally:
        request_id_var.reset(token)
    line = json.loads(stream.getvalue())
    assert line["severity"] == "WARNING"
    assert line["message"] == "hello world"
    assert line["logger"] == "test.json"
    assert line["request_id"] == "rid-7"
    assert line["cause"] == "x"
    assert "time" in line


def test_cloud_filter_moves_fields_where_the_handler_reads_them() -> None:
    record = logging.makeLogRecord(
        {"name": "chatbot.access", "msg": "GET / 200", "httpRequest": {"status": 200}, "request_id": "r1"}
    )
    assert CloudRecordFilter().filter(record)
    assert vars(record)["http_request"] == {"status": 200}
    assert vars(record)["labels"] == {"request_id": "r1"}
    assert vars(record)["json_fields"] == {"logger": "chatbot.access", "request_id": "r1"}


def test_the_shipping_clients_own_records_are_not_shipped() -> None:
    record = logging.makeLogRecord({"name": "google.cloud.logging_v2.handlers.transports.background_thread"})
    assert not CloudRecordFilter().filter(record)


def test_a_header_of_raw_bytes_never_makes_a_line_invalid_utf8(
    stream_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = stream_logger
    # What Sanic makes of `User-Agent: caf\xe9`: the byte it cannot decode, as a lone surrogate.
    logger.info("access", extra={"userAgent": "caf\udce9 é"})
    text = stream.getvalue()
    text.encode("utf-8")  # raises if the line would reach stdout as invalid UTF-8
    assert json.loads(text)["userAgent"] == "caf\udce9 é"
