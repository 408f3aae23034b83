"""End-to-end fixtures: the real compose stack (chatbot + Nginx, HTTPS) with a fake OpenAI, once per session.

Every test in tests/e2e that asks for the `stack` fixture shares one stack, built from compose.yaml plus
tests/e2e/compose.test.yaml under a unique project name, on free loopback ports, with its own settings and
certificate (the developer's `.env` and `certs/` are never read). A Docker engine is required: without one the
tests are skipped (and the session says so), except in CI (CI=true) where a missing engine fails them.

Environment knobs: PYTHON_IMAGE / NGINX_IMAGE (default: the docker-sandbox stand-ins `local/...` when present,
else the official images), E2E_KEEP_STACK=1 (leave the stack running after the session, to poke at it),
E2E_WAIT_TIMEOUT (seconds for `up --wait`, default 240), E2E_TAG (the images' tag, default "e2e": two
checkouts testing on one engine at once each set their own). Logs of every service are saved to
test-artifacts/e2e-stack.log at the end of the session.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_ports

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILES = (REPO / "compose.yaml", REPO / "tests/e2e/compose.test.yaml")
ARTIFACTS = REPO / "test-artifacts"
#: Items of these modules change the stack's state (stop, kill): they run after every other test.
DISRUPTIVE_MODULES = frozenset({"test_recovery.py", "test_redis_restart.py"})
#: Names put in the certificate's SAN besides localhost and 127.0.0.1 (checked by the TLS tests).
CERT_HOSTS = ("chatbot.e2e.test", "192.0.2.10")
#: The browser origin that the stack's CORS_ORIGINS allows (for the clients' CORS tests).
CORS_ORIGIN = "https://wordpress.e2e.test"
UPSTREAM_KEY = "sk-e2e-upstream"
#: Pages embedding the widget are served from this many local origins (ports picked per session), all listed
#: in WIDGET_ORIGINS with the stack's own origin (its /demo page).
WIDGET_SITES = 2


@dataclass(frozen=True)
class Stack:
    """A running stack. Fields, for every test that drives it (HTTPS checks, newman, WordPress...):

    project          compose project name, unique per session (containers are `<project>-<service>-1`)
    host             "localhost": the name in the certificate to use in URLs (127.0.0.1 is in the SAN too)
    https_port       the HTTPS port published on 127.0.0.1 (Nginx's 443)
    http_port        the HTTP port published on 127.0.0.1 (Nginx's 80, redirects to HTTPS)
    https_url        f"https://localhost:{https_port}", no trailing slash: the chatbot's public base URL
    http_url         f"http://localhost:{http_port}"
    api_key          the key the chatbot accepts in `x-api-key`
    ca_file          the stack's self-signed certificate (PEM): `verify=ca_file` for httpx,
                     NODE_EXTRA_CA_CERTS=ca_file for newman/Node, `--cacert` for curl
    cert_hosts       the extra SAN entries of that certificate
    cors_origin      the one browser origin allowed by the chatbot's CORS_ORIGINS
    widget_key       the publishable key (WIDGET_KEY) that widget pages carry
    widget_origins   WIDGET_ORIGINS: http://127.0.0.1:<port> for each of WIDGET_SITES host-page servers
                     (free ports, for tests/e2e/widget to serve pages on), then https_url (for /demo)
    fake_openai_url  http://127.0.0.1:<port>: the fake OpenAI's control API (GET /_fake/requests,
                     POST /_fake/reset, POST /_fake/fault); it is what the chatbot calls upstream
    cloud_logging_url  http://127.0.0.1:<port>: the fake Cloud Logging API the chatbot ships its records to
                     (GET /_fake/entries, POST /_fake/reset)
    upstream_key     the OpenAI key the chatbot sends to the fake (Authorization: Bearer ...)
    network          the stack's Docker network, to attach extra containers to it
    settings         the chatbot's environment (the generated env file), e.g. settings["OPENAI_TIMEOUT"]
    env              the environment for `docker compose` commands on this stack

    Methods: `compose(*args)` runs `docker compose` on this stack; `client()` returns an httpx.Client on
    https_url that trusts ca_file; `logs(service)` returns the service's JSON log lines as dicts;
    `wait_healthy()` waits until every service's healthcheck passes again.
    """

    project: str
    host: str
    https_port: int
    http_port: int
    api_key: str
    ca_file: Path
    cert_hosts: tuple[str, ...]
    cors_origin: str
    widget_key: str
    widget_origins: tuple[str, ...]
    fake_openai_url: str
    cloud_logging_url: str
    upstream_key: str
    network: str
    settings: dict[str, str]
    env: dict[str, str] = field(repr=False)

    @property
    def https_url(self) -> str:
        return f"https://{self.host}:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def compose(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _compose(self.project, self.env, *args, check=check, timeout=timeout, input=input)

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 30)
        verify = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.Client(base_url=self.https_url, verify=verify, **kwargs)

    def logs(self, service: str) -> list[dict[str, Any]]:
        out = self.compose("logs", "--no-color", "--no-log-prefix", service).stdout
        records = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records

    def wait_for_log(
        self, service: str, match: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        """The service's log records that `match`, waiting for at least one (logs reach Docker late)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.logs(service) if match(r)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.3)

    def wait_healthy(self, timeout: float = 90) -> None:
        """Waits until every container of every service (each chatbot replica) runs and passes its
        healthcheck. No `up`: the stack is left as the test made it."""
        services = {"chatbot", "nginx", "fake-openai", "fake-cloud-logging"}
        deadline = time.monotonic() + timeout
        while True:
            out = self.compose("ps", "--all", "--format", "json").stdout
            health = [
                (c["Name"], c["Service"], c["State"], c.get("Health"))
                for c in map(json.loads, out.splitlines())
            ]
            if {h[1] for h in health} >= services and all(h[2:] == ("running", "healthy") for h in health):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"e2e: the stack is not healthy after {timeout} s: {health}")
            time.sleep(0.5)


def _compose(
    project: str,
    env: dict[str, str],
    *args: str,
    check: bool = True,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    cmd = ["docker", "compose", "-p", project, "--env-file", env["E2E_ENV_FILE"]]
    for path in COMPOSE_FILES:
        cmd += ["-f", str(path)]
    return subprocess.run(
        [*cmd, *args],
        cwd=REPO,
        env=env,
        check=check,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


@functools.cache
def engine_problem() -> str | None:
    """Why the e2e tests cannot run here, or None when a Docker engine and Compose v2+ answer."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
        compose = subprocess.run(
            ["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine does not answer (timeout)"
    if info.returncode != 0:
        return "no Docker engine answers (`docker info` failed)"
    if compose.returncode != 0:
        return "Docker Compose v2+ is missing (`docker compose version` failed)"
    return None


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _image(var: str, standin: str, official: str) -> str:
    if os.environ.get(var):
        return os.environ[var]
    found = subprocess.run(["docker", "image", "inspect", standin], capture_output=True, timeout=20)
    return standin if found.returncode == 0 else official


def _write_env(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    path.chmod(0o600)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "disruptive: stops or kills stack services; runs after the other e2e tests"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    e2e = [item for item in items if here in item.path.parents]
    for item in e2e:
        item.add_marker(pytest.mark.e2e)
    # Stable partition: the disruptive ones last, so the shared stack is intact for everyone else.
    disruptive = [item for item in e2e if item.path.name in DISRUPTIVE_MODULES]
    if disruptive:
        items[:] = [item for item in items if item not in disruptive] + disruptive


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _STATE.get("skipped"):
        terminalreporter.write_line(
            f"e2e: SKIPPED the end-to-end stack tests: {_STATE['skipped']}. Start an engine with "
            '`eval "$(../shared/tools/docker-sandbox start)"` to run them (in CI this is a failure).',
            yellow=True,
        )


_STATE: dict[str, str] = {}


def require_engine() -> None:
    """Skips the calling test when no Docker engine answers (and says why); fails it instead in CI."""
    problem = engine_problem()
    if problem:
        if _in_ci():
            pytest.fail(f"e2e: {problem}; CI must run the end-to-end tests (make deps starts the engine)")
        _STATE["skipped"] = problem
        pytest.skip(f"e2e: {problem}")


class StackError(Exception):
    """The stack did not come up (the message holds compose's output and the services' last log lines)."""


@contextmanager
def compose_stack(
    tmp: Path, overrides: dict[str, str] | None = None, log_name: str = "e2e-stack"
) -> Iterator[Stack]:
    """Builds and starts a stack in `tmp` (certificate, env file), with `overrides` on top of the chatbot's
    test settings (they also reach compose's interpolation: EDGE_MAX_CONNS_PER_IP...); stops it on exit, after
    saving the logs to test-artifacts/<log_name>.log. The e2e fixture and bench/streams.py use it."""
    cert_dir = tmp / "certs"
    subprocess.run(
        [str(REPO / "scripts/certs.sh")],
        env={**os.environ, "CERT_DIR": str(cert_dir), "CERT_HOSTS": ",".join(CERT_HOSTS)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    http_port, https_port, fake_port, logging_port, *site_ports = free_ports(4 + WIDGET_SITES)
    project = f"chatbot-e2e-{secrets.token_hex(4)}"
    api_key = secrets.token_urlsafe(24)
    widget_key = f"pk_e2e_{secrets.token_hex(12)}"
    widget_origins = (*(f"http://127.0.0.1:{port}" for port in site_ports), f"https://localhost:{https_port}")
    settings = {
        "API_KEY": api_key,
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "OPENAI_BASE_URL": "http://fake-openai:8081/v1",
        "OPENAI_MODEL": "gpt-e2e",
        # Short, so that the timeout path (504) is exercised in seconds; one retry, for the flaky fault.
        "OPENAI_TIMEOUT": "2",
        "OPENAI_MAX_RETRIES": "1",
        "WORKERS": "1",
        "MAX_BODY_BYTES": "65536",
        # Read by the app and by Nginx, which derives its header buffers from it (test_edge_errors.py).
        "MAX_HEADER_BYTES": "16384",
        "CORS_ORIGINS": CORS_ORIGIN,
        "WIDGET_KEY": widget_key,
        "WIDGET_SECRET": secrets.token_hex(32),
        "WIDGET_ORIGINS": ",".join(widget_origins),
        # Every request of the session comes from one address (the Docker gateway): the per-address limits
        # would otherwise refuse tests for one another. Per visitor (a browser's widget) stays as shipped.
        "RATE_LIMIT_PER_IP": "100000/minute",
        "RATE_LIMIT_WIDGET_SESSION": "100000/minute",
        # Shipped to the fake Cloud Logging API (anonymous credentials when an endpoint is set).
        "GOOGLE_CLOUD_LOGGING": "true",
        "CLOUD_LOGGING_ENDPOINT": "http://fake-cloud-logging:8085",
        "GOOGLE_CLOUD_PROJECT": "chatbot-e2e",
        "LOG_LEVEL": "INFO",
        **(overrides or {}),
    }
    env_file = tmp / "stack.env"
    # One file for both the container's settings and compose's variable interpolation.
    stack_vars = {
        **settings,
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
        "BIND_ADDRESS": "127.0.0.1",
        "REGISTRY": "local",
        "TAG": os.environ.get("E2E_TAG", "e2e"),
        "PYTHON_IMAGE": _image("PYTHON_IMAGE", "local/python:3.13-slim", "python:3.13-slim"),
        "NGINX_IMAGE": _image("NGINX_IMAGE", "local/nginx:stable", "nginx:stable"),
        "REDIS_IMAGE": _image("REDIS_IMAGE", "local/redis:7", "redis:7-alpine"),
        # For the optional `monitoring` profile, which test_metrics.py starts.
        "PROMETHEUS_IMAGE": _image("PROMETHEUS_IMAGE", "local/prometheus:latest", "prom/prometheus:v2.53.3"),
        "E2E_ENV_FILE": str(env_file),
        "E2E_CERT_DIR": str(cert_dir),
        "E2E_FAKE_PORT": str(fake_port),
        "E2E_LOGGING_PORT": str(logging_port),
        "E2E_UPSTREAM_KEY": UPSTREAM_KEY,
    }
    _write_env(env_file, stack_vars)
    # The shell environment outranks --env-file in compose: drop anything that would override ours.
    env = {k: v for k, v in os.environ.items() if k not in stack_vars and not k.startswith("COMPOSE_")}
    env |= {
        k: stack_vars[k]
        for k in ("E2E_ENV_FILE", "PYTHON_IMAGE", "NGINX_IMAGE", "REDIS_IMAGE", "PROMETHEUS_IMAGE")
    }

    wait = os.environ.get("E2E_WAIT_TIMEOUT", "240")
    try:
        _compose(
            project, env, "up", "-d", "--build", "--wait", "--wait-timeout", wait, timeout=int(wait) + 360
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        output = f"{getattr(error, 'stdout', '') or ''}\n{getattr(error, 'stderr', '') or ''}"
        logs = _compose(project, env, "logs", "--no-color", "--tail", "60", check=False).stdout
        _compose(project, env, "down", "-v", "--remove-orphans", "-t", "2", check=False, timeout=120)
        raise StackError(
            f"the stack did not come up:\n{output[-4000:]}\n--- logs ---\n{logs[-6000:]}"
        ) from error

    stack = Stack(
        project=project,
        host="localhost",
        https_port=https_port,
        http_port=http_port,
        api_key=api_key,
        ca_file=cert_dir / "fullchain.pem",
        cert_hosts=CERT_HOSTS,
        cors_origin=CORS_ORIGIN,
        widget_key=widget_key,
        widget_origins=widget_origins,
        fake_openai_url=f"http://127.0.0.1:{fake_port}",
        cloud_logging_url=f"http://127.0.0.1:{logging_port}",
        upstream_key=UPSTREAM_KEY,
        network=f"{project}_default",
        settings=settings,
        env=env,
    )
    try:
        yield stack
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        stack_logs = stack.compose("logs", "--no-color", "--timestamps", check=False, timeout=60)
        (ARTIFACTS / f"{log_name}.log").write_text(stack_logs.stdout + stack_logs.stderr, encoding="utf-8")
        if os.environ.get("E2E_KEEP_STACK") == "1":
            print(f"\ne2e: stack kept running: {stack.https_url} (project {project}, key {api_key})")
        else:
            stack.compose("down", "-v", "--remove-orphans", "-t", "5", check=False, timeout=180)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The running stack, shared by the whole session (see `Stack` for its fields)."""
    require_engine()
    try:
        with compose_stack(tmp_path_factory.mktemp("e2e-stack")) as running:
            yield running
    except StackError as error:
        pytest.fail(f"e2e: {error}")


@pytest.fixture
def fake_openai(stack: Stack) -> Iterator[httpx.Client]:
    """A client on the fake OpenAI's control API, reset before and after the test."""
    with httpx.Client(base_url=stack.fake_openai_url, timeout=10) as client:
        client.post("/_fake/reset").raise_for_status()
        yield client
        client.post("/_fake/reset").raise_for_status()


# The WordPress site (one per session) for every tests/e2e/test_wordpress*.py file: fixtures defined in a test
# module's imports would be set up once per module.
from tests.e2e.widget.harness import widget_run  # noqa: E402, F401
from tests.e2e.wordpress.harness import chatbot, visitor, wordpress  # noqa: E402, F401
