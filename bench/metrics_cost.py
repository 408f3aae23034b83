"""`make bench`: what Prometheus metrics cost on /chat: METRICS=true next to METRICS=false (wrk, 64
connections, fake OpenAI answering after 0 ms), in alternating runs.

Both services run at once, otherwise identical (as chat.py runs them: no Redis, limits high); only the one
being measured gets requests. Noise on 2 shared cores is a few percent, so the runs alternate (true, false,
true...) and the table gives every run, the medians and their ratio, the median ratio of the runs taken in
pairs, and the workers' CPU per request (steadier than throughput when other processes share the cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import (
    API_KEY,
    CHAT_BODY,
    HEADERS,
    HIGH_LIMITS,
    cpu_seconds,
    machine,
    require_wrk,
    wrk,
    wrk_script,
)
from chatbot.metrics import ENV, Metrics
from tests.processes import fake_openai, service


def calls_cost(folder: Path) -> float:
    """µs of the Metrics calls one /chat makes (no Redis: request, upstream, tokens), timed in this process,
    in multiprocess mode as the workers run them."""
    os.environ[ENV] = str(folder)
    metrics = Metrics()
    usage = {"prompt_tokens": 40, "completion_tokens": 3, "total_tokens": 43}

    def one_chat() -> None:
        metrics.request("/chat", "POST", 200, 0.0012)
        metrics.upstream("plain", 0.0008)
        metrics.tokens("key-1a2b3c4d", usage)

    return min(timeit.repeat(one_chat, number=10_000, repeat=5)) / 10_000 * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=10, help="runs per setting, alternating")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 s per run, two rounds")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 2, 2
    if not require_wrk():
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    chat_lua = wrk_script(tmp / "chat.lua", CHAT_BODY, HEADERS)
    rps: dict[str, list[float]] = {"true": [], "false": []}
    p50: dict[str, list[float]] = {"true": [], "false": []}
    cpu_us: dict[str, list[float]] = {"true": [], "false": []}
    errors = 0
    with fake_openai("--delay-ms", "0", "--no-record", "--reply", "Bonjour !") as upstream:
        env = {
            "API_KEY": API_KEY,
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": upstream,
            "LOG_LEVEL": "INFO",
            **HIGH_LIMITS,
        }
        with (
            service({**env, "METRICS": "true"}, log_file=tmp / "on.log") as on,
            service({**env, "METRICS": "false"}, log_file=tmp / "off.log") as off,
        ):
            services = {"true": on, "false": off}
            for url, _ in services.values():
                wrk(url + "/chat", chat_lua, 8, 2)  # warm pools before measuring
            workers = len(on[1].worker_pids())
            for _ in range(args.rounds):
                for setting, (url, proc) in services.items():
                    pids = proc.worker_pids()
                    before = cpu_seconds(pids)
                    run = wrk(url + "/chat", chat_lua, args.connections, args.seconds)
                    cpu_us[setting].append((cpu_seconds(pids) - before) / (run.rps * args.seconds) * 1e6)
                    rps[setting].append(run.rps)
                    p50[setting].append(run.p50_ms)
                    errors += run.errors
    print(f"\n{machine(workers)}")
    print(
        f"wrk: {args.seconds:g} s per run, {args.connections} connections, {args.rounds} alternating runs "
        "per setting; POST /chat, the same message, fake upstream at 0 ms, no Redis\n"
    )
    print("| METRICS | req/s, each run | median req/s | median p50 | worker CPU/req (median) |")
    print("|---|---|---|---|---|")
    for setting in ("false", "true"):
        runs = ", ".join(f"{r:,.0f}" for r in rps[setting])
        print(
            f"| {setting} | {runs} | {statistics.median(rps[setting]):,.0f} | "
            f"{statistics.median(p50[setting]):.2f} ms | {statistics.median(cpu_us[setting]):.0f} µs |"
        )
    ratio = statistics.median(rps["true"]) / statistics.median(rps["false"])
    # Each run next to the one just before it: slow drifts in the machine's load cancel out.
    paired = statistics.median(on / off for on, off in zip(rps["true"], rps["false"], strict=True))
    cpu = statistics.median(cpu_us["true"]) / statistics.median(cpu_us["false"])
    (tmp / "values").mkdir()
    per_chat = calls_cost(tmp / "values")
    print(
        f"\nWith metrics: {ratio - 1:+.1%} requests per second (median against median), {paired - 1:+.1%} "
        f"(median of the paired runs); worker CPU per request {cpu - 1:+.1%}; {errors} errors. The metrics "
        f"calls of one /chat, timed alone: {per_chat:.1f} µs."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
