"""`make bench`: /chat with conversations, shared rate limits and the reply cache on (Redis), next to the same
service without Redis, and a cache hit next to GET /healthz (wrk, fake OpenAI answering after 0 ms).

Both services get the same requests: every message different (so the cache misses and each is a new
conversation), limits set high enough never to refuse wrk's one address (without Redis they are counted in
each worker's memory). The cache rows send the same first message again and again. Redis is Debian's
redis-server with the stack's persistence (append-only file, flushed every second). The runs alternate between
the two services, and each figure is the median run. The cache's own counters (/metrics) say how many lookups
hit during the measured runs, and /proc what each run cost in CPU per request.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import (
    API_KEY,
    CHAT_BODY,
    HEADERS,
    HIGH_LIMITS,
    Run,
    counters,
    cpu_seconds,
    machine,
    median_run,
    require_wrk,
    varied_script,
    wrk,
    wrk_script,
)
from tests.processes import Process, RedisServer, fake_openai, redis_server, service

CACHE = "chatbot_cache_requests_total"
REDIS_ERRORS = "chatbot_redis_errors_total"


@dataclass
class Row:
    runs: dict[int, list[Run]]  # by connection count
    requests: float = 0.0
    worker_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    hits: float = 0.0
    misses: float = 0.0
    redis_errors: float = 0.0

    def at(self, connections: int) -> Run:
        return median_run(self.runs[connections])


class Target:
    """One service and one kind of request; `measure` adds a run to its row, with what it cost."""

    def __init__(self, url: str, proc: Process, redis: RedisServer | None, path: str) -> None:
        self.url, self.proc, self.redis, self.path = url, proc, redis, path
        self.row = Row({})

    def measure(self, script: Path, connections: int, seconds: float) -> None:
        pids = self.proc.worker_pids()
        redis_pid = [self.redis.proc.pid] if self.redis is not None and self.redis.proc is not None else []
        cache_before = counters(self.url, CACHE)
        lost_before = counters(self.url, REDIS_ERRORS).get("", 0)
        worker_before, redis_before = cpu_seconds(pids), cpu_seconds(redis_pid)
        run = wrk(self.url + self.path, script, connections, seconds)
        row = self.row
        row.worker_cpu_s += cpu_seconds(pids) - worker_before
        row.redis_cpu_s += cpu_seconds(redis_pid) - redis_before
        row.requests += run.rps * seconds
        cache_after = counters(self.url, CACHE)
        row.hits += cache_after.get("hit", 0) - cache_before.get("hit", 0)
        row.misses += cache_after.get("miss", 0) - cache_before.get("miss", 0)
        row.redis_errors += counters(self.url, REDIS_ERRORS).get("", 0) - lost_before
        row.runs.setdefault(connections, []).append(run)


def line(name: str, row: Row, base: Row | None, connections: tuple[int, ...]) -> str:
    one = row.at(1) if 1 in connections else None
    many = row.at(64)
    cells = [name]
    cells += [f"{one.rps:,.0f}", f"{one.p50_ms:.2f} ms"] if one else ["", ""]
    cells += [f"{many.rps:,.0f}", f"{many.p50_ms:.2f} ms", f"{many.p99_ms:.1f} ms"]
    cells.append(f"{many.rps / base.at(64).rps:.0%}" if base else "")
    cells.append(f"{one.p50_ms - base.at(1).p50_ms:+.2f} ms" if base and one else "")
    cells.append(f"{row.worker_cpu_s / row.requests * 1e6:.0f} µs" if row.requests else "")
    cells.append(f"{row.redis_cpu_s / row.requests * 1e6:.0f} µs" if row.redis_cpu_s else "")
    cells.append(f"{row.hits:,.0f} / {row.misses:,.0f}" if row.hits or row.misses else "")
    cells.append(str(sum(r.errors for runs in row.runs.values() for r in runs)))
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure, alternating between services")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 s per run, one round")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 2, 1
    if not require_wrk():
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-state-"))
    same_lua = wrk_script(tmp / "same.lua", CHAT_BODY, HEADERS)
    health_lua = wrk_script(tmp / "health.lua", None, {})
    persistence = ("--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(tmp))
    with (
        fake_openai("--delay-ms", "0", "--no-record", "--reply", "Bonjour !") as upstream,
        redis_server(*persistence) as redis,
    ):
        env = {
            "API_KEY": API_KEY,
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": upstream,
            "LOG_LEVEL": "INFO",
            **HIGH_LIMITS,
        }
        with (
            service(env, log_file=tmp / "service-plain.log") as (plain_url, plain_proc),
            service({**env, "REDIS_URL": redis.url}, log_file=tmp / "service-redis.log") as (url, proc),
        ):
            plain = Target(plain_url, plain_proc, None, "/chat")
            stateful = Target(url, proc, redis, "/chat")
            hit = Target(url, proc, redis, "/chat")
            health = Target(url, proc, redis, "/healthz")
            for target in (plain, stateful):  # warm pools and caches
                wrk(target.url + "/chat", varied_script(tmp / "warm.lua"), 8, 1)
            wrk(url + "/chat", same_lua, 8, 1)  # the first one misses and is kept: every later one hits
            workers = len(proc.worker_pids())
            for _ in range(args.rounds):
                for connections in (1, 64):
                    for target in (plain, stateful):
                        # A new script each run: no message is ever sent twice.
                        target.measure(varied_script(tmp / "varied.lua"), connections, args.seconds)
                    hit.measure(same_lua, connections, args.seconds)
                health.measure(health_lua, 64, args.seconds)
    both = (1, 64)
    print(f"\n{machine(workers)}")
    print(
        f"wrk: {args.seconds:g} s per run, 2 threads (1 at c=1), median of {args.rounds} alternating run(s); "
        "fake upstream at 0 ms; CPU: the service's workers (and redis-server) per request\n"
    )
    print(
        "| service, requests | req/s c=1 | p50 c=1 | req/s c=64 | p50 c=64 | p99 c=64 | of no Redis c=64 | "
        "added p50 c=1 | worker CPU/req | Redis CPU/req | cache hits / misses | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(line("no Redis (limits in each worker's memory), every message new", plain.row, None, both))
    print(line("Redis: conversations, limits, cache; every message new", stateful.row, plain.row, both))
    print(line("Redis: the same first message (cache hit)", hit.row, plain.row, both))
    print(line("Redis: GET /healthz", health.row, None, (64,)))
    lost = sum(row.redis_errors for row in (stateful.row, hit.row))
    if lost:
        # Past its 100 ms budget a Redis call falls back (no cache, limits in memory): not the normal path.
        print(
            f"\nWARNING: {lost:,.0f} Redis calls failed or timed out during the runs (machine too loaded?)."
        )
    share = hit.row.at(64).rps / health.row.at(64).rps
    print(f"\nA cache hit is served at {share:.0%} of GET /healthz's throughput (c=64, one service).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
