"""A Docker engine of the Swarm tests' own: a second dockerd on this machine, with its own data, socket and
networks, which becomes a one-node swarm and is stopped and removed at the end.

Why not the machine's own engine: on Docker 20.10, `docker swarm leave` wipes the embedded DNS records of
every running container on the engine's bridge networks (a compose stack's services stop finding each other by
name until each container restarts; seen here). The tests' own engine leaves the machine's engine, and what
else runs on it, untouched. Images reach it through the local registry (127.0.0.1:5000), as a swarm's
nodes pull from a registry.

It runs without iptables rules of its own (the machine's engine owns those) and publishes no port. Its bridges
are interfaces of its own, on subnets no route uses: its default bridge (never `--bridge=none`, with which
dockerd deletes the `docker0` interface, the machine's engine's own) and its tasks' docker_gwbridge. Its swarm
listens on loopback only, with its own data-path port.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port


def _routes() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True, timeout=10).stdout
    found = []
    for line in out.splitlines():
        word = line.split()[0]
        if word != "default":
            found.append(ipaddress.ip_network(word, strict=False))
    return found


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.213.0.0/16 that no route of this machine overlaps."""
    taken = _routes()
    for third in random.sample(range(256), 256):
        subnet = ipaddress.IPv4Network(f"10.213.{third}.0/24")
        if not any(subnet.overlaps(route) for route in taken):
            return subnet
    raise RuntimeError("no free /24 in 10.213.0.0/16")


def _free_udp_port() -> int:
    """A free UDP port in Swarm's range for the data path, 1024-49151 (ephemeral ports are above it)."""
    for port in random.sample(range(20000, 49152), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free UDP port in 20000-49151")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], capture_output=True, check=True, timeout=30)


@dataclass
class Engine:
    """The private engine: `docker(*args)` runs the docker CLI against it."""

    folder: Path
    process: subprocess.Popen[bytes]
    #: Its default bridge's interface, made for it and removed after it.
    bridge: str

    @property
    def host(self) -> str:
        return f"unix://{self.folder}/docker.sock"

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(
        self, *args: str, timeout: float = 120, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *args], env=self.env(), capture_output=True, timeout=timeout, check=False,
            text=input is None, input=input,
        )  # fmt: skip


def start() -> Engine:
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed")
    # Short: a unix socket path has at most 107 characters.
    folder = Path(tempfile.mkdtemp(prefix="swt-", dir="/tmp"))
    bridge = f"swb{folder.name[-8:].lower()}"[:15]
    subnet = _free_subnet()
    _ip("link", "add", bridge, "type", "bridge")
    _ip("addr", "add", f"{subnet[1]}/{subnet.prefixlen}", "dev", bridge)
    _ip("link", "set", bridge, "up")
    log = (folder / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            "dockerd", "--data-root", str(folder / "data"), "--exec-root", str(folder / "x"),
            "--pidfile", str(folder / "dockerd.pid"), "-H", f"unix://{folder}/docker.sock",
            "--bridge", bridge, "--iptables=false", "--ip-masq=false", "--ip-forward=false",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    engine = Engine(folder, process, bridge)
    deadline = time.monotonic() + 60
    while engine.docker("info", timeout=10).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            stop(engine)
            raise RuntimeError(
                f"the tests' dockerd did not start:\n{(folder / 'dockerd.log').read_text()[-2000:]}"
            )
        time.sleep(0.5)
    return engine


def init_swarm(engine: Engine) -> None:
    # The tasks' bridge, made before the swarm would make its own: a subnet and an interface of its own.
    name = f"swg{engine.folder.name[-8:].lower()}"[:15]
    made = engine.docker(
        "network", "create", "--subnet", str(_free_subnet()),
        "--opt", f"com.docker.network.bridge.name={name}",
        "--opt", "com.docker.network.bridge.enable_icc=false",
        "--opt", "com.docker.network.bridge.enable_ip_masquerade=false",
        "docker_gwbridge",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = engine.docker(
        "swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", f"127.0.0.1:{free_port()}",
        "--data-path-port", str(_free_udp_port()),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def stop(engine: Engine) -> None:
    """Everything the engine made goes: the swarm, containers, networks, then the daemon and its folder."""
    if engine.process.poll() is None:
        engine.docker("swarm", "leave", "--force", timeout=60)
        listed = engine.docker("ps", "-aq", timeout=30).stdout.split()
        if listed:
            engine.docker("rm", "-f", *listed, timeout=120)
        engine.docker("network", "rm", "docker_gwbridge", timeout=30)
        engine.process.send_signal(signal.SIGTERM)
        try:
            engine.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(engine.process.pid, signal.SIGKILL)
            engine.process.wait(10)
    subprocess.run(["ip", "link", "delete", engine.bridge], capture_output=True, check=False, timeout=30)
    shutil.rmtree(engine.folder, ignore_errors=True)
