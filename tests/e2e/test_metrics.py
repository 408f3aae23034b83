"""GET /metrics: the Prometheus text format on the private network only, and the optional Prometheus of the
`monitoring` profile scraping it for real (the stand-in image here: Debian's Prometheus and promtool)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Stack
from tests.e2e.edge import memory_mib

pytestmark = pytest.mark.timeout(600)

CHATS = 'sum(chatbot_http_requests_total{route="/chat",status="200"})'
#: Worker processes of the chatbot: the children of its main process that Sanic named.
WORKERS = (
    "import pathlib\n"
    "for p in sorted(pathlib.Path('/proc').glob('[0-9]*')):\n"
    "    try:\n"
    "        if b'SANIC_WORKER_NAME=Sanic-Server' in (p / 'environ').read_bytes(): print(p.name)\n"
    "    except OSError:\n"
    "        pass\n"
)


def _replicas(stack: Stack) -> int:
    return len(stack.compose("ps", "-q", "chatbot").stdout.split())


def _scrape(stack: Stack, replica: int = 1) -> str:
    """One replica's own /metrics, asked from inside its container as Prometheus does on the network."""
    return stack.compose(
        "exec", "-T", "--index", str(replica), "chatbot", "python", "-c",
        "import urllib.request as u\n"
        "print(u.urlopen('http://127.0.0.1:3000/metrics', timeout=10).read().decode())",
    ).stdout  # fmt: skip


def _chats_total(stack: Stack) -> float:
    """Chats answered, summed over every replica (what Prometheus's sum() sees)."""
    return sum(
        sample.value
        for replica in range(1, _replicas(stack) + 1)
        for family in text_string_to_metric_families(_scrape(stack, replica))
        for sample in family.samples
        if sample.name == "chatbot_http_requests_total"
        and sample.labels.get("route") == "/chat"
        and sample.labels.get("status") == "200"
    )


def _chat(stack: Stack, count: int) -> None:
    with stack.client() as client:
        for i in range(count):
            response = client.post(
                "/chat", json={"message": f"compte {i}"}, headers={"x-api-key": stack.api_key}
            )
            assert response.status_code == 200


class Prometheus:
    def __init__(self, url: str) -> None:
        self.api = httpx.Client(base_url=url, timeout=10)

    def query(self, promql: str) -> float | None:
        body = self.api.get("/api/v1/query", params={"query": promql}).json()
        assert body["status"] == "success", body
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def wait(self, promql: str, ok: object, timeout: float = 40) -> float | None:
        """The query's value once `ok(value)` holds (Prometheus scrapes every 5 s)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.query(promql)
            if ok(value) or time.monotonic() > deadline:  # type: ignore[operator]
                return value
            time.sleep(1)


@pytest.fixture(scope="module")
def prometheus(stack: Stack) -> Iterator[Prometheus]:
    stack.compose(
        "--profile", "monitoring", "up", "-d", "--wait", "--wait-timeout", "120", "prometheus", timeout=240
    )
    port = (
        stack.compose("--profile", "monitoring", "port", "prometheus", "9090")
        .stdout.strip()
        .rsplit(":", 1)[1]
    )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        yield server
    finally:
        server.api.close()
        # The session's `down` leaves services of profiles it was not given, and their named volumes.
        stack.compose("--profile", "monitoring", "rm", "--stop", "--force", "-v", "prometheus", check=False)
        volume = f"{stack.project}_prometheus-data"
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, check=False, timeout=60)


@pytest.mark.parametrize("path", ["/metrics", "/metrics?format=text", "/%6Detrics", "/metrics/", "/METRICS"])
def test_metrics_are_not_served_from_outside(stack: Stack, path: str) -> None:
    with stack.client() as client:
        response = client.get(path)
    assert response.status_code == 404
    assert list(response.json()) == ["error"]
    assert "chatbot_" not in response.text


def test_the_exposition_passes_promtool(stack: Stack, prometheus: Prometheus) -> None:
    _chat(stack, 1)  # so that the chat series exist
    body = _scrape(stack)
    assert "# TYPE chatbot_http_requests_total counter" in body
    check = stack.compose("exec", "-T", "prometheus", "promtool", "check", "metrics", check=False, input=body)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "", check.stdout
    config = stack.compose(
        "exec", "-T", "prometheus", "promtool", "check", "config", "/etc/chatbot-prometheus/prometheus.yml"
    )
    assert "SUCCESS" in config.stdout


def test_prometheus_runs_read_only_unprivileged_with_a_memory_limit(
    stack: Stack, prometheus: Prometheus
) -> None:
    name = f"{stack.project}-prometheus-1"
    inspect = subprocess.run(
        ["docker", "inspect", name], capture_output=True, text=True, check=True, timeout=30
    )
    [container] = json.loads(inspect.stdout)
    host = container["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["Memory"] == 256 * 1024 * 1024
    assert container["Config"]["User"] == "nobody"
    assert memory_mib(name) < 128
    # Retention is bounded by age and by size.
    assert {"--storage.tsdb.retention.time=15d", "--storage.tsdb.retention.size=1GB"} <= set(
        container["Args"]
    )


def test_prometheus_scrapes_the_chatbot_and_counts_the_chats(stack: Stack, prometheus: Prometheus) -> None:
    up = prometheus.wait('up{job="chatbot"}', lambda v: v == 1)
    assert up == 1
    before = prometheus.wait(CHATS, lambda v: v is not None) or 0
    _chat(stack, 5)
    after = prometheus.wait(CHATS, lambda v: v is not None and v >= before + 5)
    assert after is not None
    assert after >= before + 5


def test_a_killed_worker_does_not_make_the_totals_go_back(stack: Stack, prometheus: Prometheus) -> None:
    _chat(stack, 3)
    total = _chats_total(stack)
    assert prometheus.wait(CHATS, lambda v: v is not None and v >= total) == total
    workers = ("exec", "-T", "--index", "1", "chatbot", "python", "-c", WORKERS)
    before = stack.compose(*workers).stdout.split()
    assert before
    kill = f"import os; os.kill({int(before[0])}, 9)"
    stack.compose("exec", "-T", "--index", "1", "chatbot", "python", "-c", kill)
    deadline = time.monotonic() + 30
    while True:  # the chatbot's supervisor starts a new worker (chatbot/supervise.py)
        after = stack.compose(*workers).stdout.split()
        if (len(after) == len(before) and before[0] not in after) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(after) == len(before)
    assert before[0] not in after
    # The dead worker's values stay in the merged view: what it counted is still counted.
    assert _chats_total(stack) >= total
    _chat(stack, 4)
    assert _chats_total(stack) >= total + 4
    # And Prometheus saw no counter reset on the way.
    assert prometheus.wait(CHATS, lambda v: v is not None and v >= total + 4) == _chats_total(stack)
    assert prometheus.query("sum(resets(chatbot_http_requests_total[5m]))") == 0
