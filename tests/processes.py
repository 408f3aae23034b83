"""Real processes for tests and benchmarks: the service, the fakes; started, awaited, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "tests" / "fakes"


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open together while chosen, so none is picked twice)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


class Process:
    """A child process whose combined output is collected line by line."""

    def __init__(
        self, args: list[str], env: dict[str, str], *, cwd: Path = ROOT, log_file: Path | None = None
    ) -> None:
        """With `log_file`, output goes there (as Docker's log driver would) instead of being collected."""
        self.args = args
        self.lines: list[str] = []
        self._log = None if log_file is None else log_file.open("w")
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=self._log or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # A line that is not UTF-8 must not stop the reader: tests look for such lines (log_records).
            errors="surrogateescape",
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        if self.proc.stdout is None:
            return
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_http(self, url: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} exited {self.proc.returncode}:\n{self.output}")
            try:
                if httpx.get(url, timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not answer within {timeout} s:\n{self.output}")

    def wait_for_output(self, text: str, timeout: float = 10) -> None:
        """Waits until a line of the output holds `text` (a process logs late, never before it acts)."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in list(self.lines)):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{text!r} not in the output of {self.args} after {timeout} s:\n{self.output}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            # SIGTERM to the whole group: Sanic's manager and its workers (SIGINT can leave it spinning).
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(2)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def worker_pids(self) -> list[int]:
        """Sanic's server workers: the manager's children that Sanic named (its helpers carry no name)."""
        pid = self.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids = []
        for child in children:
            try:
                if b"SANIC_WORKER_NAME=" in Path(f"/proc/{child}/environ").read_bytes():
                    pids.append(int(child))
            except OSError:  # exited (or a zombie) since the list was read
                continue
        return pids


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GOOGLE_", "FAQ_", "LLM_"))}
    env.update({"PYTHONUNBUFFERED": "1", "GOOGLE_CLOUD_LOGGING": "false"})
    return env


@contextmanager
def _fake(script: str, probe: str, extra: tuple[str, ...]) -> Iterator[str]:
    port = free_port()
    proc = Process([sys.executable, str(FAKES / script), "--port", str(port), *extra], base_env())
    try:
        proc.wait_http(f"http://127.0.0.1:{port}{probe}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@contextmanager
def fake_openai(*extra: str) -> Iterator[str]:
    """A fake OpenAI server; yields its base URL (ending in /v1)."""
    with _fake("openai_server.py", "/_fake/health", extra) as url:
        yield f"{url}/v1"


@contextmanager
def fake_cloud_logging(*extra: str) -> Iterator[str]:
    """A fake Cloud Logging API; yields its endpoint URL."""
    with _fake("cloud_logging.py", "/_fake/entries", extra) as url:
        yield url


class RedisServer:
    """A real redis-server (Debian's package) on a free loopback port, no persistence unless `extra` options
    (given last, they win) turn it on."""

    def __init__(self, *extra: str) -> None:
        self.extra = extra
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                # DEBUG SLEEP stands for a slow Redis in the tests (refused by default since Redis 7).
                "--enable-debug-command",
                "local",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not self.ping():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """One command through redis-cli (tests: FLUSHALL, DEBUG SLEEP, KEYS...); its raw output."""
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, check=True, timeout=30
        ).stdout

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@contextmanager
def redis_server(*extra: str) -> Iterator[RedisServer]:
    server = RedisServer(*extra)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def service(
    env: dict[str, str], *, wait: bool = True, log_file: Path | None = None
) -> Iterator[tuple[str, Process]]:
    """The real service (`python -m chatbot`) on a free port; yields its base URL and process."""
    port = free_port()
    full_env = {**base_env(), "HOST": "127.0.0.1", "PORT": str(port), **env}
    # A temporary working directory: a developer's own .env must not leak into tests.
    proc = Process(
        [sys.executable, "-m", "chatbot"],
        full_env,
        cwd=Path(tempfile.mkdtemp(prefix="chatbot-")),
        log_file=log_file,
    )
    try:
        if wait:
            proc.wait_http(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.stop()
