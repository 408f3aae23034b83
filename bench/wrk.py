"""What the wrk benchmarks share: running wrk and reading its figures, request scripts, the service's settings
for one client address, the machine's load, and counters read from the service's /metrics."""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

API_KEY = "bench-key-0123456789"
MESSAGE = "Bonjour, quels sont vos horaires d'ouverture ?"
CHAT_BODY = json.dumps({"message": MESSAGE})
HEADERS = {"Content-Type": "application/json", "x-api-key": API_KEY}
#: wrk is one client address with one key: limits high enough never to refuse it, but still counted (as
#: shipped, every /chat goes through them). With the shipped 30/minute per address nearly all would get 429.
HIGH_LIMITS = {"RATE_LIMIT_PER_KEY": "1000000/second", "RATE_LIMIT_PER_IP": "1000000/second"}


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def require_wrk() -> bool:
    if shutil.which("wrk") is None:
        print("bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return False
    return True


def wrk_script(path: Path, body: str | None, headers: dict[str, str]) -> Path:
    """A wrk script sending the same request every time (GET when body is None)."""
    lines = (
        ['wrk.method = "GET"'] if body is None else ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    )
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def varied_script(path: Path, message: str = MESSAGE) -> Path:
    """A wrk script whose every /chat message is different: `message` then a nonce new to this script, the wrk
    thread and a counter (wrk threads each run their own Lua state, so the thread number keeps them apart).
    Written anew for each run: no message repeats across runs either, so the reply cache always misses."""
    prefix = json.dumps(message)[:-1] + " " + secrets.token_hex(4)
    headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in HEADERS.items())
    path.write_text(
        "local threads = 0\n"
        "function setup(thread)\n  threads = threads + 1\n  thread:set('id', threads)\nend\n"
        "local n = 0\n"
        "function request()\n  n = n + 1\n"
        f"  local body = [==[{{\"message\": {prefix}-]==] .. id .. '-' .. n .. '\"}}'\n"
        f'  return wrk.format("POST", nil, {{{headers}}}, body)\nend\n'
    )
    return path


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, script: Path, connections: int, seconds: float) -> Run:
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{round(seconds)}s",
            "--latency",
            "-s",
            f"{script}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Run(rps, p50, p99, errors)


def counters(url: str, name: str) -> dict[str, float]:
    """One counter of the service's /metrics (all workers merged), by its label values joined with commas."""
    text = httpx.get(f"{url}/metrics", timeout=10).raise_for_status().text
    found: dict[str, float] = {}
    for labels, value in re.findall(rf"^{name}(?:{{(.*)}})? (\S+)$", text, re.MULTILINE):
        key = ",".join(re.findall(r'="([^"]*)"', labels))
        found[key] = found.get(key, 0.0) + float(value)
    return found


def load() -> str:
    """The load averages (1, 5, 15 min): other processes on the machine skew every figure."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine(workers: int) -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {workers} workers; "
        f"load average {load()}"
    )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes have used so far (what a run cost them: the difference)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        # Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def median_run(runs: list[Run]) -> Run:
    """The run with the median throughput (its latencies with it); the errors of all runs."""
    ordered = sorted(runs, key=lambda r: r.rps)
    middle = ordered[len(ordered) // 2]
    return Run(middle.rps, middle.p50_ms, middle.p99_ms, sum(r.errors for r in runs))
