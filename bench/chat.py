"""`make bench`: /chat against a fast fake OpenAI server, next to calling the fake directly (wrk).

Prints a Markdown table: requests per second and median latency at 1 and 64 connections, with the fake
answering after 0 ms and after 50 ms, the median latency /chat adds at 1 connection, and the resident memory
of each worker. The service runs as shipped: default worker count, JSON access log on, Cloud Logging off.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.processes import ROOT, Process, fake_openai, service

API_KEY = "bench-key-0123456789"
CHAT_BODY = json.dumps({"message": "Bonjour, quels sont vos horaires d'ouverture ?"})
UPSTREAM_BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Bonjour, quels sont vos horaires d'ouverture ?"}],
        "max_tokens": 150,
        "temperature": 0.7,
    }
)


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk_script(path: Path, body: str | None, headers: dict[str, str]) -> Path:
    lines = (
        ['wrk.method = "GET"'] if body is None else ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    )
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(url: str, script: Path, connections: int, seconds: int) -> Run:
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
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


def worker_rss_mib(proc: Process) -> list[float]:
    """Resident memory of each Sanic worker."""
    rss = []
    for pid in proc.worker_pids():
        status = Path(f"/proc/{pid}/status").read_text()
        kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        rss.append(kib / 1024)
    return rss


def offline_rows(tmp: Path, chat_lua: Path, seconds: int) -> list[str]:
    """/chat answered from the FAQ alone, next to GET /healthz on the same service."""
    env = {"API_KEY": API_KEY, "FAQ_FILE": str(ROOT / "faq" / "faq.md")}
    headers = {"Content-Type": "application/json", "x-api-key": API_KEY}
    faq_lua = wrk_script(tmp / "faq.lua", json.dumps({"message": "Comment modifier la FAQ ?"}), headers)
    rows = []
    with service(env, log_file=tmp / "service-offline.log") as (url, _):
        wrk(url + "/chat", faq_lua, 8, 2)
        # Every message different (a counter appended, as two numbers of under 5 digits, which typo correction
        # ignores), so that none is served from the retrieval cache.
        varied_lua = tmp / "varied.lua"
        varied_lua.write_text(
            'local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format("POST", nil, '
            + "{['Content-Type'] = 'application/json', ['x-api-key'] = '"
            + API_KEY
            + "'}, "
            + "'{\"message\": \"Comment modifier la FAQ ? ' .. n % 9973 .. ' ' "
            + "..  math.floor(n / 9973) .. '\"}')\nend\n"
        )
        for name, target, lua in (
            ("POST /chat, a question the FAQ answers (repeated: retrieval cached)", url + "/chat", faq_lua),
            ("POST /chat, the same question, each one different (no cache)", url + "/chat", varied_lua),
            ("POST /chat, off-topic (fallback reply)", url + "/chat", chat_lua),
            ("GET /healthz", url + "/healthz", wrk_script(tmp / "get.lua", None, {})),
        ):
            run = wrk(target, lua, 64, seconds)
            rows.append(
                f"| {name} | {run.rps:,.0f} | {run.p50_ms:.2f} ms | {run.p99_ms:.1f} ms | {run.errors} |"
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="duration of each wrk run")
    parser.add_argument(
        "--delays", default="0,50", help="fake upstream delays in ms (empty: offline mode only)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    chat_lua = wrk_script(
        tmp / "chat.lua", CHAT_BODY, {"Content-Type": "application/json", "x-api-key": API_KEY}
    )
    direct_lua = wrk_script(
        tmp / "direct.lua",
        UPSTREAM_BODY,
        {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
    )
    rows: list[str] = []
    rss: list[float] = []
    workers = 0
    for delay in (int(d) for d in args.delays.split(",") if d):
        with fake_openai("--delay-ms", str(delay), "--no-record", "--reply", "Bonjour !") as upstream:
            env = {
                "API_KEY": API_KEY,
                "OPENAI_API_KEY": "sk-bench",
                "OPENAI_BASE_URL": upstream,
                "LOG_LEVEL": "INFO",
            }
            # Logs go to a file, as Docker's json-file driver takes them (a pipe read by Python is slower).
            with service(env, log_file=tmp / f"service-{delay}.log") as (url, proc):
                # Warm both paths (pools, caches) before measuring.
                wrk(url + "/chat", chat_lua, 8, 2)
                results = {}
                for name, target, lua in (
                    ("fake called directly", upstream + "/chat/completions", direct_lua),
                    ("POST /chat", url + "/chat", chat_lua),
                ):
                    results[name] = {c: wrk(target, lua, c, args.seconds) for c in (1, 64)}
                health = wrk(url + "/healthz", wrk_script(tmp / "get.lua", None, {}), 64, args.seconds)
                rss = worker_rss_mib(proc)
                workers = len(rss)
            direct = results["fake called directly"]
            for name, runs in results.items():
                added = runs[1].p50_ms - direct[1].p50_ms
                ratio = runs[64].rps / direct[64].rps
                errors = runs[1].errors + runs[64].errors
                rows.append(
                    f"| {delay} ms | {name} | {runs[1].rps:,.0f} | {runs[1].p50_ms:.2f} ms | "
                    f"{runs[64].rps:,.0f} | {runs[64].p50_ms:.2f} ms | {runs[64].p99_ms:.1f} ms | "
                    f"{ratio:.0%} | {added:+.2f} ms | {errors} |"
                )
            rows.append(
                f"| {delay} ms | GET /healthz (no upstream) | | | {health.rps:,.0f} | "
                f"{health.p50_ms:.2f} ms | {health.p99_ms:.1f} ms | | | {health.errors} |"
            )
    offline = offline_rows(tmp, chat_lua, args.seconds)
    cpu = platform.processor() or platform.machine()
    print(f"\nMachine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {workers} workers")
    print(
        f"wrk: {args.seconds} s per run, 2 threads (1 at c=1); fake upstream: aiohttp + uvloop, one process\n"
    )
    print(
        "| upstream | target | req/s c=1 | p50 c=1 | req/s c=64 | p50 c=64 | p99 c=64 | "
        "of direct c=64 | added p50 c=1 | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nResident memory per worker: {', '.join(f'{r:.0f} MiB' for r in rss)}")
    print("\nOffline mode (no OPENAI_API_KEY, answers from faq/faq.md), 64 connections:\n")
    print("| target | req/s | p50 | p99 | errors |\n|---|---|---|---|---|")
    print("\n".join(offline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
