"""`make bench`: /chat against a fast fake OpenAI server, next to calling the fake directly (wrk).

Prints a Markdown table: requests per second and median latency at 1 and 64 connections, with the fake
answering after 0 ms and after 50 ms, the median latency /chat adds at 1 connection, and the resident memory
of each worker. The service runs as shipped: default worker count, JSON access log on, metrics on, Cloud
Logging off, no Redis (bench/state.py adds it), rate limits counted but set high enough never to refuse wrk's
single address.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import API_KEY, CHAT_BODY, HEADERS, HIGH_LIMITS, machine, require_wrk, wrk, wrk_script
from tests.processes import ROOT, Process, fake_openai, service

UPSTREAM_BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Bonjour, quels sont vos horaires d'ouverture ?"}],
        "max_tokens": 150,
        "temperature": 0.7,
    }
)


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
    env = {"API_KEY": API_KEY, "FAQ_FILE": str(ROOT / "faq" / "faq.md"), **HIGH_LIMITS}
    faq_lua = wrk_script(tmp / "faq.lua", json.dumps({"message": "Comment modifier la FAQ ?"}), HEADERS)
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
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 s per run")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2
    if not require_wrk():
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    chat_lua = wrk_script(tmp / "chat.lua", CHAT_BODY, HEADERS)
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
                **HIGH_LIMITS,
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
    print(f"\n{machine(workers)}")
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
