"""`make bench-replicas`: /chat through Nginx over HTTPS with 1, 2 and 4 chatbot replicas (and 1 replica of 2
workers, the former default), the fake OpenAI answering after 0 ms and after 50 ms.

Runs compose.yaml as shipped (plus bench/compose.bench.yaml: the fake, settings, certificate) and wrk against
Nginx's address on the stack's network (what a VM's clients reach through iptables; no docker-proxy). Prints a
Markdown table: requests per second, latency, and where the CPU went: the host's two cores busy, and the CPU
time the chatbot replicas and Nginx spent per 1,000 chats (what the paper estimate in docs/deploy.md uses).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wrk import wrk, wrk_script

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "chatbot-bench-replicas"
FILES = ["-f", str(ROOT / "compose.yaml"), "-f", str(ROOT / "bench/compose.bench.yaml")]
#: (replicas, workers per replica)
SHAPES = [(1, 2), (1, 1), (2, 1), (4, 1)]


def compose(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["docker", "compose", "-p", PROJECT, "--env-file", env["BENCH_ENV_FILE"], *FILES, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"docker compose {' '.join(args)}: {done.stderr[-3000:]}")
    return done.stdout


def containers(service: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-q", "--no-trunc", "--filter", f"label=com.docker.compose.project={PROJECT}",
         "--filter", f"label=com.docker.compose.service={service}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return out.split()


def cpu_seconds(container: str) -> float:
    """CPU time the container has used (cgroup v1, or v2)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    stat = Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat").read_text()
    return int(stat.split("usage_usec")[1].split()[0]) / 1e6


def engine_seconds() -> float:
    """CPU time of dockerd, containerd and the containerd shims: they carry every line containers log."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        name = fields[0].split("(", 1)[1]
        if name in {"dockerd", "containerd"} or name.startswith("containerd-shim"):
            values = fields[1].split()
            total += (int(values[11]) + int(values[12])) / tick  # utime, stime
    return total


def host_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def measure(url: str, lua: Path, connections: int, seconds: int) -> dict[str, float]:
    wrk(url, lua, 8, 2)  # warm: pools, kept-alive connections
    ids = {s: containers(s) for s in ("chatbot", "nginx", "fake-openai", "redis")}
    before = {s: sum(map(cpu_seconds, c)) for s, c in ids.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    engine = engine_seconds()
    busy0, total0 = host_busy()
    started = time.monotonic()
    run = wrk(url, lua, connections, seconds)
    elapsed = time.monotonic() - started
    busy1, total1 = host_busy()
    engine = engine_seconds() - engine
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = {s: sum(map(cpu_seconds, c)) - before[s] for s, c in ids.items()}
    chats = run.rps * seconds
    cores = os.cpu_count() or 1
    return {
        "rps": run.rps,
        "p50": run.p50_ms,
        "p99": run.p99_ms,
        "errors": run.errors,
        # Cores busy: the stack's containers, wrk, and the whole host (other work on the machine included).
        "stack_cores": sum(spent.values()) / elapsed,
        "wrk_cores": (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) / elapsed,
        "host_cores": (busy1 - busy0) / (total1 - total0) * cores,
        "chatbot_ms": spent["chatbot"] / chats * 1e6,  # CPU ms per 1,000 chats
        "nginx_ms": spent["nginx"] / chats * 1e6,
        "engine_ms": engine / chats * 1e6,
    }


def row(delay: int, shape: str, m: dict[str, float]) -> str:
    return (
        f"| {delay} ms | {shape} | {m['rps']:,.0f} | {m['p50']:.1f} ms | {m['p99']:.1f} ms | "
        f"{m['errors']:.0f} | {m['stack_cores']:.2f} + {m['wrk_cores']:.2f} of {m['host_cores']:.2f} | "
        f"{m['chatbot_ms']:,.0f} ms | {m['nginx_ms']:,.0f} ms | {m['engine_ms']:,.0f} ms |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--delays", default="0,50", help="fake upstream delays in ms")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    key = secrets.token_hex(16)
    certs = {"CERT_DIR": str(tmp / "certs"), "CERT_HOSTS": "localhost"}
    subprocess.run(
        [str(ROOT / "scripts/certs.sh")], env={**os.environ, **certs}, check=True, capture_output=True
    )
    settings = {
        "API_KEY": key,
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": "http://fake-openai:8081/v1",
        "GOOGLE_CLOUD_LOGGING": "false",
        "RATE_LIMIT_PER_KEY": "off",
        "RATE_LIMIT_PER_IP": "off",
        "CACHE_TTL": "0",  # every chat goes upstream, as distinct questions would
        "EDGE_MAX_CONNS_PER_IP": "4096",  # wrk is one address
        "BIND_ADDRESS": "127.0.0.1",
        "HTTP_PORT": "0",
        "HTTPS_PORT": "0",
        "TAG": os.environ.get("TAG", "bench"),
        "PYTHON_IMAGE": os.environ.get("PYTHON_IMAGE", "python:3.13-slim"),
        "NGINX_IMAGE": os.environ.get("NGINX_IMAGE", "nginx:stable"),
        "REDIS_IMAGE": os.environ.get("REDIS_IMAGE", "redis:7-alpine"),
    }
    env_file = tmp / "bench.env"
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_") and k not in settings}
    env |= {"BENCH_ENV_FILE": str(env_file), "BENCH_CERT_DIR": str(tmp / "certs")}
    body = json.dumps({"message": "Bonjour, quels sont vos horaires d'ouverture ?"})
    headers = {"Content-Type": "application/json", "x-api-key": key}
    lua = wrk_script(tmp / "chat.lua", body, headers)
    # A new TLS connection per chat, as a server-side integration (WordPress) that does not keep connections.
    fresh = wrk_script(tmp / "fresh.lua", body, {**headers, "Connection": "close"})
    rows = []
    try:
        for delay in (int(d) for d in args.delays.split(",") if d):
            for replicas, workers in SHAPES:
                values = {**settings, "CHATBOT_REPLICAS": str(replicas), "WORKERS": str(workers)}
                values["BENCH_DELAY_MS"] = str(delay)
                env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
                compose(env, "up", "-d", "--build", "--wait", "--remove-orphans")
                edge = containers("nginx")[0]
                fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
                address = subprocess.run(
                    ["docker", "inspect", "-f", fmt, edge], capture_output=True, text=True, check=True
                ).stdout.strip()
                time.sleep(3)  # Nginx has followed every replica
                runs = [("", lua)] + ([(", new TLS connection per chat", fresh)] if replicas == 2 else [])
                for label, script in runs:
                    m = measure(f"https://{address}/chat", script, args.connections, args.seconds)
                    rows.append(row(delay, f"{replicas} x {workers}{label}", m))
                    print(rows[-1], file=sys.stderr)
    finally:
        compose(env, "down", "-v", "--remove-orphans", "-t", "5")
    print(f"\n{os.cpu_count()} cores; wrk {args.connections} connections, {args.seconds} s, HTTPS to Nginx\n")
    print(
        "| upstream | replicas x workers | chats/s | p50 | p99 | errors | cores: stack + wrk of host busy | "
        "CPU per 1,000 chats: chatbot | Nginx | Docker engine (logs) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
