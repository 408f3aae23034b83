"""Metrics in the Prometheus text format, one view across all worker processes (prometheus_client's
multiprocess mode: each worker writes its values to memory-mapped files in PROMETHEUS_MULTIPROC_DIR, which
`python -m chatbot` creates empty before the workers start; a scrape merges them).

Names and units follow Prometheus conventions (`_total` counters, `_seconds` histograms); labels never hold a
key, a message or anything a visitor typed: keys appear as their short fingerprint (`key-1a2b3c4d`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"
# A chat costs 0.3 ms here and up to a minute with a slow model: buckets span both.
_CHILDREN_KEPT = 1000
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def prepare_directory() -> Path:
    """Called once in the main process before the workers start: an empty folder for this run's values."""
    given = os.environ.get(ENV)
    folder = Path(given) if given else Path(tempfile.gettempdir()) / f"chatbot-metrics-{os.getpid()}"
    if folder.exists():
        shutil.rmtree(folder)  # values of an earlier run would be added to this one's
    folder.mkdir(parents=True)
    os.environ[ENV] = str(folder)
    return folder


class Metrics:
    """The service's metrics; every method is cheap (a few µs: an mmap write)."""

    def __init__(self) -> None:
        # Imported here: prometheus_client reads PROMETHEUS_MULTIPROC_DIR when its values are created.
        from prometheus_client import Counter, Histogram  # noqa: PLC0415

        # registry=None: the values live in the workers' files, which `exposition` merges; a second app in one
        # process (tests) must not collide in the default registry either.
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=None)

        def histogram(name: str, doc: str, labels: tuple[str, ...] = ()) -> Histogram:
            return Histogram(name, doc, labels, buckets=_LATENCY_BUCKETS, registry=None)

        self._requests = counter(
            "chatbot_http_requests_total",
            "HTTP requests answered, by route and exact status",
            ("route", "method", "status"),
        )
        self._latency = histogram(
            "chatbot_http_request_duration_seconds", "Time to answer a request", ("route",)
        )
        self._upstream = histogram(
            "chatbot_upstream_request_duration_seconds",
            "Time the model took to reply (whole reply)",
            ("mode",),
        )
        self._first_delta = histogram("chatbot_stream_first_delta_seconds", "Time to a stream's first piece")
        self._tokens = counter(
            "chatbot_tokens_total", "Tokens the upstream reported, by key and direction", ("key", "direction")
        )
        self._cache = counter("chatbot_cache_requests_total", "Reply cache lookups", ("result",))
        self._limited = counter(
            "chatbot_rate_limited_total", "Requests refused by a limit or budget", ("policy",)
        )
        self._faq = counter(
            "chatbot_faq_lookups_total", "Messages by whether the FAQ had an entry", ("result",)
        )
        self._feedback = counter("chatbot_feedback_total", "Visitors' ratings of replies", ("rating",))
        self._faults = counter("chatbot_upstream_faults_total", "Upstream failures by kind", ("fault",))
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._redis = counter(
            "chatbot_redis_errors_total", "Redis calls that failed (the chat went on without)"
        )

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        # The labelled children, kept: `labels()` costs a lock and a lookup per call (half of this method).
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (self._requests.labels(route, method, str(status)), self._latency.labels(route))
            if len(self._children) < _CHILDREN_KEPT:  # routes x methods x statuses: bounded, but be sure
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def upstream(self, mode: str, seconds: float) -> None:
        self._upstream.labels(mode).observe(seconds)

    def first_delta(self, seconds: float) -> None:
        self._first_delta.observe(seconds)

    def tokens(self, key: str, usage: dict[str, Any] | None) -> None:
        for field, direction in (("prompt_tokens", "in"), ("completion_tokens", "out")):
            value = (usage or {}).get(field)
            if isinstance(value, int) and value > 0:
                self._tokens.labels(key, direction).inc(value)

    def cache(self, hit: bool) -> None:
        self._cache.labels("hit" if hit else "miss").inc()

    def limited(self, policy: str) -> None:
        self._limited.labels(policy).inc()

    def faq(self, matched: bool) -> None:
        self._faq.labels("matched" if matched else "unmatched").inc()

    def feedback(self, rating: str) -> None:
        self._feedback.labels(rating).inc()

    def fault(self, name: str) -> None:
        self._faults.labels(name).inc()

    def redis_error(self) -> None:
        self._redis.inc()


class NoMetrics(Metrics):
    """METRICS=false: the same calls, doing nothing."""

    def __init__(self) -> None:
        pass

    def request(self, route: str, method: str, status: int, seconds: float) -> None: ...
    def upstream(self, mode: str, seconds: float) -> None: ...
    def first_delta(self, seconds: float) -> None: ...
    def tokens(self, key: str, usage: dict[str, Any] | None) -> None: ...
    def cache(self, hit: bool) -> None: ...
    def limited(self, policy: str) -> None: ...
    def faq(self, matched: bool) -> None: ...
    def feedback(self, rating: str) -> None: ...
    def fault(self, name: str) -> None: ...
    def redis_error(self) -> None: ...


def make_metrics(enabled: bool) -> Metrics:
    """Metrics when enabled and `python -m chatbot` prepared their folder (else the no-op kind)."""
    return Metrics() if enabled and os.environ.get(ENV) else NoMetrics()


def exposition() -> tuple[bytes, str]:
    """Every worker's values, merged, in the text format: (body, content type)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest  # noqa: PLC0415
    from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
