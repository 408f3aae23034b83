"""Structured logging: one JSON object per line on stdout, the same records shipped to Cloud Logging."""

from __future__ import annotations

import logging
import os
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from chatbot.config import CloudLogging, LoggingSettings

#: The id of the request being served; every log line of that request carries it.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

log = logging.getLogger("chatbot")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is a structured field.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "taskName"}
# Fields Cloud Logging's handler reads from records; they must not leak into jsonPayload twice.
_CLOUD_ATTRS = frozenset({"json_fields", "http_request", "labels", "trace", "span_id", "trace_sampled"})
# The shipping client logs its own failures through these; shipping those would loop.
_NOT_SHIPPED = ("google.", "urllib3.")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request's id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class Utf8JsonFormatter(JsonFormatter):
    """JSON lines that are always valid UTF-8. A header sent as raw non-UTF-8 bytes (a User-Agent in Latin-1)
    reaches Python as lone surrogates, which stdout would write back as the invalid bytes they came from."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            # As JSON's own escape (\udce9): the line stays the same JSON, in valid UTF-8.
            return line.encode("utf-8", "backslashreplace").decode("utf-8")
        return line


def _formatter() -> logging.Formatter:
    return Utf8JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        # What the Cloud Logging handler adds to a record is shipped there, not printed.
        reserved_attrs=[*RESERVED_ATTRS, *_CLOUD_ATTRS],
        rename_fields={"levelname": "severity", "asctime": "time", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
    )


def configure_logging(settings: LoggingSettings) -> None:
    """Route every logger (ours and Sanic's) to one JSON stdout handler; idempotent per process."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_formatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("sanic.root", "sanic.error", "sanic.server", "sanic.access", "sanic.websockets"):
        sanic_logger = logging.getLogger(name)
        sanic_logger.handlers[:] = []
        sanic_logger.propagate = True
    # Sanic's own access log is replaced by ours (one line per request, Cloud Logging's httpRequest shape).
    logging.getLogger("sanic.access").disabled = True


def access_record(
    *, method: str, url: str, status: int, latency_s: float, user_agent: str, remote_ip: str, size: int
) -> dict[str, Any]:
    """The access-log `httpRequest` object, in Cloud Logging's field names."""
    return {
        "requestMethod": method,
        "requestUrl": url,
        "status": status,
        "latency": f"{latency_s:.6f}s",
        "userAgent": user_agent,
        "remoteIp": remote_ip,
        "responseSize": str(size),
    }


class CloudRecordFilter(logging.Filter):
    """Moves a record's structured fields where google-cloud-logging's handler looks for them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_NOT_SHIPPED):
            return False
        extras = {
            k: v
            for k, v in vars(record).items()
            if k not in _RECORD_ATTRS and k not in _CLOUD_ATTRS and not k.startswith("_")
        }
        http_request = extras.pop("httpRequest", None)
        fields: dict[str, Any] = {"logger": record.name, **extras}
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            fields["request_id"] = request_id
            record.labels = {"request_id": request_id}
        if http_request is not None:
            record.http_request = http_request
        record.json_fields = fields
        return True


@dataclass
class CloudShipper:
    """The Cloud Logging handler of this process, attached to the root logger until `close()`."""

    handler: logging.Handler

    def close(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        # Flushes what is queued (bounded by the transport's grace period), then stops its thread.
        self.handler.close()


def _credentials_hint() -> str | None:
    """Why we believe Google credentials exist, without any network call (None: no sign of any)."""
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return "GOOGLE_APPLICATION_CREDENTIALS"
    config_dir = os.environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
    if (Path(config_dir) / "application_default_credentials.json").is_file():
        return "gcloud application default credentials"
    if os.environ.get("GCE_METADATA_HOST"):
        return "GCE_METADATA_HOST"
    try:
        # What google-auth itself checks: a Compute Engine VM says so in its DMI product name.
        if "Google" in Path("/sys/class/dmi/id/product_name").read_text(encoding="utf-8"):
            return "Compute Engine metadata server"
    except OSError:
        pass
    return None


@dataclass
class CloudTarget:
    """A Logging API client and the monitored resource to log against (None: the library detects it)."""

    client: Any
    resource: Any | None


def cloud_target(settings: LoggingSettings) -> CloudTarget | None:
    """The Logging API client when Cloud Logging is on, else None (having said why once). The rule, shared by
    the service and the edge log shipper: GOOGLE_CLOUD_LOGGING=false is off; `auto` is on when Google
    credentials are found; CLOUD_LOGGING_ENDPOINT (an emulator, the tests' fake) needs none."""
    if settings.google_cloud_logging is CloudLogging.FALSE:
        return None
    hint = _credentials_hint()
    if (
        not settings.cloud_logging_endpoint
        and hint is None
        and settings.google_cloud_logging is CloudLogging.AUTO
    ):
        log.info("Cloud Logging off: no Google credentials found; logging to stdout only")
        return None
    # Imported only when shipping: the Google client stack costs memory every worker would pay.
    from google.cloud.logging import Client, Resource  # noqa: PLC0415

    if settings.cloud_logging_endpoint:
        # A local emulator or test endpoint: anonymous credentials, explicit project, global resource.
        from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415

        project = settings.google_cloud_project or "local-project"
        client = Client(  # type: ignore[no-untyped-call]
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            _use_grpc=False,
            client_options={"api_endpoint": settings.cloud_logging_endpoint},
        )
        return CloudTarget(client, Resource(type="global", labels={"project_id": project}))
    try:
        client = Client(  # type: ignore[no-untyped-call]
            project=settings.google_cloud_project or None, _use_grpc=False
        )
    except Exception as error:  # google-auth raises several unrelated types for "no credentials"
        log.warning(
            "Cloud Logging off: no usable Google credentials (%s); logging to stdout only",
            type(error).__name__,
        )
        return None
    return CloudTarget(client, None)


def start_cloud_logging(settings: LoggingSettings) -> CloudShipper | None:
    """Ship records to Cloud Logging in a background thread, or return None (and say why once)."""
    target = cloud_target(settings)
    if target is None:
        return None
    from google.cloud.logging.handlers import CloudLoggingHandler  # noqa: PLC0415
    from google.cloud.logging.handlers.transports import BackgroundThreadTransport  # noqa: PLC0415

    kwargs: dict[str, Any] = {"name": settings.log_name, "transport": BackgroundThreadTransport}
    if target.resource is not None:
        kwargs["resource"] = target.resource
    handler = CloudLoggingHandler(target.client, **kwargs)
    # Ours must run before the library's own filter, which reads labels and http_request from the record.
    handler.filters[:0] = [RequestIdFilter(), CloudRecordFilter()]
    handler.setLevel(settings.log_level)
    logging.getLogger().addHandler(handler)
    log.info("Cloud Logging on: log %s, project %s", settings.log_name, target.client.project)
    return CloudShipper(handler)
