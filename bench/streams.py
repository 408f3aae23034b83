"""`make bench`: streamed replies through the compose stack (Nginx over HTTPS, the chatbot, Redis, and the
fake OpenAI of tests/e2e, as tests/e2e/conftest.py builds it), with a client on the same machine.

1. Time to the first delta through Nginx over HTTPS, next to the fake's own first chunk with content (its port
   published on 127.0.0.1), at 1 and at 64 concurrent streams: each connection opened (and its TLS handshake
   done) beforehand, then one stream after another on it.
2. How many concurrent streams the stack holds with a slow model (40 pieces 100 ms apart, ~4 s): every
   connection opened first, then every stream started at once; a level passes when every stream completes
   (`done` received, its pieces adding up to the whole reply). Levels go up until one fails.

Every message is new (no cache hit, a new conversation each); the per-address limits are off (one client
address); Cloud Logging off, as shipped. Needs a Docker engine (../shared/tools/docker-sandbox start).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sse import (
    Classify,
    Connection,
    Stream,
    burst,
    chatbot_event,
    loop_streams,
    open_connections,
    openai_event,
    post,
    raise_open_files_limit,
    tls_context,
)
from bench.wrk import load
from tests.e2e.conftest import UPSTREAM_KEY, Stack, StackError, compose_stack, engine_problem

OVERRIDES = {
    "RATE_LIMIT_PER_IP": "off",
    "RATE_LIMIT_PER_KEY": "off",
    "EDGE_MAX_CONNS_PER_IP": "20000",  # Nginx's cap per address: every bench connection has the same one
    "GOOGLE_CLOUD_LOGGING": "false",
    "OPENAI_TIMEOUT": "30",  # the shipped default (the e2e tests shorten it)
}
#: The fake echoes the message as "  Echo: <message>  \n": 200 characters cut into 40 pieces of 5.
REPLY_CHARS = 200
SLOW = "40x100"


def message(spec: str) -> str:
    """A message never sent before, asking the fake for `spec` (pieces x ms) and a reply of REPLY_CHARS."""
    start = f"#stream:{spec} {secrets.token_hex(8)} "
    return start + "." * (REPLY_CHARS - len("  Echo:   \n") - len(start))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


class Target:
    """Where streams go: the stack's /chat (HTTPS) or the fake called directly."""

    def __init__(self, stack: Stack, direct: bool) -> None:
        self.name = "fake OpenAI called directly" if direct else "POST /chat through Nginx (HTTPS)"
        self.port = int(stack.fake_openai_url.rsplit(":", 1)[1]) if direct else stack.https_port
        self.context = None if direct else tls_context(stack.ca_file)
        self.warm = "/_fake/health" if direct else "/healthz"
        self.classify: Classify = openai_event if direct else chatbot_event
        self._direct, self._key = direct, stack.api_key

    def request(self, spec: str) -> Callable[[], bytes]:
        if self._direct:
            return lambda: post(
                "/v1/chat/completions",
                {
                    "model": "gpt-e2e",
                    "messages": [{"role": "user", "content": message(spec)}],
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
                {"Authorization": f"Bearer {UPSTREAM_KEY}"},
            )
        return lambda: post("/chat", {"message": message(spec), "stream": True}, {"x-api-key": self._key})

    async def connections(self, count: int) -> list[Connection]:
        return await open_connections(count, self.port, self.context, self.warm)


def chatbot_first_deltas(stack: Stack) -> list[float]:
    """The chatbot's own `first_delta_ms` of every stream so far (its access lines): from the moment it starts
    the upstream call to the first piece, i.e. without Nginx, TLS, the request's checks and Redis."""
    time.sleep(1)  # log lines reach Docker late
    records = stack.logs("chatbot")
    return [float(r["first_delta_ms"]) for r in records if "first_delta_ms" in r]


async def first_delta_rows(stack: Stack, seconds: float, paces: dict[int, str]) -> list[str]:
    rows = []
    for concurrency, spec in paces.items():
        medians: dict[bool, float] = {}
        for direct in (True, False):
            target = Target(stack, direct)
            connections = await target.connections(concurrency)
            logged = len(await asyncio.to_thread(chatbot_first_deltas, stack))
            streams = await loop_streams(connections, target.request(spec), target.classify, seconds)
            for connection in connections:
                connection.close()
            own = (await asyncio.to_thread(chatbot_first_deltas, stack))[logged:]
            ttfd = [s.ttfd_ms for s in streams if s.ttfd_ms is not None]
            durations = [(s.ended - s.sent) * 1000 for s in streams if s.ended is not None]
            medians[direct] = statistics.median(ttfd)
            added = f"{medians[False] - medians[True]:+.2f} ms" if not direct else ""
            own_p50 = f"{statistics.median(own):.1f} ms" if own and not direct else ""
            rows.append(
                f"| {concurrency} | {target.name} | {spec.replace('x', ' x ')} ms | {len(streams):,} | "
                f"{medians[direct]:.2f} ms | "
                f"{percentile(ttfd, 0.9):.2f} ms | {percentile(ttfd, 0.99):.2f} ms | {added} | {own_p50} | "
                f"{statistics.median(durations):.0f} ms | {sum(not s.complete for s in streams)} |"
            )
    return rows


def peak_in_flight(streams: list[Stream]) -> int:
    edges = sorted([(s.sent, 1) for s in streams] + [(s.ended or s.sent, -1) for s in streams])
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def container_stats(stack: Stack, found: dict[str, str]) -> None:
    """CPU and memory of each of the stack's containers, as `docker stats` sees them now."""
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}"],
        capture_output=True, text=True, timeout=60, check=False,
    ).stdout  # fmt: skip
    prefix = f"{stack.project}-"
    for line in out.splitlines():
        name, cpu, memory = line.split(" ", 2)
        if name.startswith(prefix):
            found[name.removeprefix(prefix).removesuffix("-1")] = f"{cpu} CPU, {memory.split(' / ')[0]}"


def listen_overflows(stack: Stack, service: str) -> int:
    """Connections the service's listening socket had no room for (each waits for a SYN retransmit: 1 s, then
    3 s...): a backlog too short for a burst shows up here, not in CPU."""
    out = subprocess.run(
        ["docker", "exec", f"{stack.project}-{service}-1", "cat", "/proc/net/netstat"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.splitlines()  # fmt: skip
    names, values = out[0].split(), out[1].split()
    return int(values[names.index("ListenOverflows")])


async def capacity_row(stack: Stack, count: int) -> tuple[bool, str, dict[str, str]]:
    target = Target(stack, direct=False)
    started = time.perf_counter()
    connections = await target.connections(count)
    opened = time.perf_counter() - started
    stats: dict[str, str] = {}
    # Sampled while every stream runs (the slow model's reply takes ~4 s; docker stats itself ~2 s).
    sampler = threading.Timer(1.0, container_stats, (stack, stats))
    sampler.start()
    overflows = {name: listen_overflows(stack, name) for name in ("chatbot", "fake-openai")}
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    streams = await burst(connections, target.request(SLOW), target.classify, limit_s=120)
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    for name, before in overflows.items():
        stats[f"{name} listen queue overflows"] = str(listen_overflows(stack, name) - before)
    for connection in connections:
        connection.close()
    sampler.join()
    complete = [s for s in streams if s.complete]
    ttfd = [s.ttfd_ms for s in complete if s.ttfd_ms is not None]
    durations = [(s.ended - s.sent) for s in complete if s.ended is not None]
    errors: dict[str, int] = {}
    for stream in streams:
        if not stream.complete:
            kind = (stream.error or "incomplete")[:60]
            errors[kind] = errors.get(kind, 0) + 1
    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (
        client_before.ru_utime + client_before.ru_stime
    )
    cells = [
        f"{count:,}",
        f"{opened:.1f} s",
        f"{peak_in_flight(streams):,}",
        f"{len(complete):,}",
        ", ".join(f"{n} {kind}" for kind, n in errors.items()) or "0",
        f"{percentile(ttfd, 0.5):.0f} / {percentile(ttfd, 0.99):.0f} ms" if ttfd else "",
        f"{percentile(durations, 0.5):.2f} / {percentile(durations, 0.99):.2f} / {max(durations):.2f} s"
        if durations
        else "",
        f"{client_cpu:.1f} s",
    ]
    return len(complete) == count, "| " + " | ".join(cells) + " |", stats


async def measure(stack: Stack, args: argparse.Namespace) -> None:
    # Warm-up: both workers resolve the fake's name and open their pools (a cold worker's first burst would
    # wait on one DNS lookup through Docker's resolver, and fail with it if it fails).
    warm = Target(stack, direct=False)
    connections = await warm.connections(64)
    await loop_streams(connections, warm.request("4x10"), warm.classify, 2)
    for connection in connections:
        connection.close()
    print(f"\nLoad average before: {load()}")
    ttfd_rows = await first_delta_rows(stack, args.seconds, {1: args.pace_one, 64: args.pace})
    capacity: list[str] = []
    stats: dict[int, dict[str, str]] = {}
    for count in (int(n) for n in args.levels.split(",")):
        passed, row, stats[count] = await capacity_row(stack, count)
        capacity.append(row)
        if not passed:
            break
    print(
        f"Load average after: {load()}; 2 cores shared by the client, Nginx, the chatbot (2 workers), Redis"
    )
    print(
        "and the fake. Time to first delta (TTFD): from writing the request on an open keep-alive connection "
        "(TLS handshake done) to reading the first piece of text; replies of N pieces M ms apart (short "
        f"ones at 1 stream, for more samples), {args.seconds:g} s per row.\n"
    )
    print(
        "| streams at once | target | reply N x M | streams | TTFD p50 | TTFD p90 | TTFD p99 | added p50 | "
        "chatbot's own first delta p50 | stream duration p50 | incomplete |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(ttfd_rows))
    print(
        "\nConcurrent streams through Nginx (HTTPS) with a slow model: 40 pieces 100 ms apart (3.9 s); every "
        "connection opened first (50 handshakes at a time), then every stream started at once.\n"
    )
    print(
        "| streams | connections opened in | peak in flight | complete | failed | TTFD p50 / p99 | "
        "duration p50 / p99 / max | client CPU |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(capacity))
    for count, found in stats.items():
        print(f"\nDuring the {count:,} streams: " + "; ".join(f"{k} {v}" for k, v in sorted(found.items())))
    redis_lost = [
        r
        for r in stack.logs("chatbot")
        if r.get("logger") == "chatbot.redis" and r.get("severity") == "WARNING"
    ]
    if redis_lost:
        # Past its 100 ms budget per call the chatbot goes on without Redis: then the figures are not the
        # stack's normal path (a machine too loaded for them).
        print(f"\nWARNING: the chatbot lost Redis {len(redis_lost)} time(s) during the runs (see its log).")


def run(coroutine: object) -> None:
    try:
        import uvloop  # noqa: PLC0415 - the client is lighter on uvloop, when present

        uvloop.run(coroutine)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coroutine)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="duration of each time-to-first-delta row")
    parser.add_argument("--pace", default="20x50", help="pieces x ms between them, TTFD at 64 streams")
    parser.add_argument("--pace-one", default="4x10", help="the same, TTFD at 1 stream")
    parser.add_argument("--levels", default="1000,1500,2000", help="concurrent streams to try, in order")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 s per row, 200 streams")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.levels = 3, "200"
    problem = engine_problem()
    if problem:
        print(f"bench/streams.py: skipped: {problem} (start one: docker-sandbox start)", file=sys.stderr)
        return 0
    raise_open_files_limit(2 * max(int(n) for n in args.levels.split(",")) + 256)
    # The images' tag: a bench stack must not replace the images an e2e session is testing (conftest.py).
    os.environ.setdefault("E2E_TAG", "bench")
    print("Bringing up the compose stack (build, then up --wait)...", file=sys.stderr)
    try:
        with compose_stack(
            Path(tempfile.mkdtemp(prefix="bench-streams-")), OVERRIDES, "bench-stack"
        ) as stack:
            run(measure(stack, args))
    except StackError as error:
        print(f"bench/streams.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
