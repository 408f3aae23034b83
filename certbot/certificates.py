"""Keeps a certificate for DOMAIN from an ACME CA (Let's Encrypt by default) with certbot. Runs in the stack's
`certbot` container (compose profile `acme`, turned on when DOMAIN is set; docs/certificates.md).

  run      the container's command: a certificate for DOMAIN when there is none yet (HTTP-01 in certbot's
           webroot mode: Nginx serves the shared folder on port 80), then `certbot renew` twice a day (certbot
           renews in the last third of a certificate's life: 30 days before a 90-day one expires). SIGHUP: a
           pass now. A failed pass is logged with severity ERROR and tried again after 5 minutes, then 10,
           20... up to 12 hours; the pair in certs/ stays as it was, so Nginx keeps serving it.
  install  certbot's deploy hook (every pass also does it): copies the new certificate and key into certs/,
           where Nginx's watcher (nginx/follow-certificate.sh) sees them and reloads gracefully.

The rule for certs/fullchain.pem: it is replaced only when `make certs` made it (the self-signed placeholder,
whose subject says O=chatbot-mvp self-signed) or when it is a copy of a certificate this certbot issued.
Anything else was placed by hand: it is served as it is, and nothing is asked of the CA while it is there.

Settings (environment): DOMAIN, ACME_EMAIL (optional), ACME_SERVER (production, staging or a directory URL).
Logs: one JSON object a line on stdout (time, severity, logger, message, ...), like the chatbot's.
Standard library and cryptography only: what certbot's images already hold.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from cryptography import x509
from cryptography.x509.oid import NameOID

SERVERS = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
#: The subject's O of the self-signed placeholder that scripts/certs.sh makes.
PLACEHOLDER_ORG = "chatbot-mvp self-signed"
RENEW_EVERY = 12 * 3600
FIRST_RETRY = 300
#: How often certs/ is looked at between passes (no network): a placeholder put back by `FORCE=1 make certs`
#: gives way to the certificate already issued, and a removed certificate placed by hand is noticed.
TICK = 60
#: What certbot runs after each issuance or renewal. Stored in the lineage's renewal settings, so a renewal
#: started by hand (`certbot renew` in the container) installs too: this file's path in the container.
HOOK = f"python3 {Path(__file__).resolve()} install"
#: Lines of certbot's output that say nothing about what went wrong.
NOISE = re.compile(r"^(Saving debug log|Ask for help|See the logfile|- - -|$)")
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$)({LABEL}\.)+[A-Za-z]([A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?$")


def log(severity: str, message: str, **fields: object) -> None:
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime()),
        "severity": severity,
        "logger": "certbot",
        "message": message,
        **fields,
    }
    print(json.dumps(record, ensure_ascii=False), flush=True)


@dataclass(frozen=True)
class Settings:
    domain: str
    email: str
    server: str
    certs: Path = Path("/certs")
    letsencrypt: Path = Path("/etc/letsencrypt")
    webroot: Path = Path("/var/www/certbot")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Raises ValueError naming the setting that is wrong."""
        domain = env.get("DOMAIN", "").strip()
        if not domain:
            raise ValueError("DOMAIN is not set: there is no name to ask a certificate for")
        if not HOSTNAME.match(domain):
            raise ValueError(f"DOMAIN={domain!r} is not a host name (no scheme, port or IP address)")
        server = env.get("ACME_SERVER", "").strip() or "production"
        server = SERVERS.get(server, server)
        if not server.startswith("https://"):
            raise ValueError(f"ACME_SERVER={server!r}: production, staging or an https:// directory URL")
        return cls(domain=domain, email=env.get("ACME_EMAIL", "").strip(), server=server)

    @property
    def served(self) -> Path:
        return self.certs / "fullchain.pem"

    @property
    def lineage(self) -> Path:
        return self.letsencrypt / "live" / self.domain

    @property
    def renewal_conf(self) -> Path:
        return self.letsencrypt / "renewal" / f"{self.domain}.conf"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def classify(settings: Settings) -> str:
    """What certs/fullchain.pem is: missing, placeholder (make certs'), acme (issued here) or hand (else)."""
    served = _read(settings.served)
    if not served.strip():
        return "missing"
    for issued in (settings.letsencrypt / "archive").glob("*/fullchain*.pem"):
        if issued.read_bytes() == served:
            return "acme"
    try:
        cert = x509.load_pem_x509_certificate(served)
    except ValueError:
        return "hand"
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if cert.subject == cert.issuer and PLACEHOLDER_ORG in orgs:
        return "placeholder"
    return "hand"


def expiry(path: Path) -> str | None:
    """The certificate's end of validity (ISO 8601, UTC), or None when there is no readable one."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    return cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_beside(path: Path, data: bytes, mode: int) -> Path:
    """`data` in a new file beside `path`, with `mode` from its creation on, ready to be renamed over it."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)  # the umask may have taken bits away
    return tmp


def install(settings: Settings, lineage: Path | None = None) -> bool:
    """Copies the lineage's certificate and key into certs/ when they differ there and the rule allows it;
    True when it did."""
    lineage = lineage or settings.lineage
    if lineage.name != settings.domain or not (lineage / "fullchain.pem").exists():
        return False
    chain = (lineage / "fullchain.pem").read_bytes()
    key = (lineage / "privkey.pem").read_bytes()
    key_path = settings.certs / "privkey.pem"
    if _read(settings.served) == chain and _read(key_path) == key:
        return False
    if classify(settings) == "hand":
        log(
            "INFO",
            f"not installed: certs/ holds a certificate placed by hand; the one for {settings.domain} stays "
            f"in certs/letsencrypt/live/{settings.domain}/",
            domain=settings.domain,
        )
        return False
    settings.certs.mkdir(parents=True, exist_ok=True)
    new_key = _write_beside(key_path, key, 0o600)
    new_chain = _write_beside(settings.served, chain, 0o644)
    # The key first: until the certificate follows, the pair does not load, and Nginx keeps the one it has.
    os.replace(new_key, key_path)
    os.replace(new_chain, settings.served)
    return True


def log_installed(settings: Settings) -> None:
    log(
        "INFO",
        f"installed the certificate for {settings.domain} in certs/: Nginx reloads it within seconds",
        domain=settings.domain,
        expires=expiry(settings.served),
    )


def certbot(*args: str) -> tuple[bool, str]:
    """Runs certbot: (success, the lines of its output that explain a failure)."""
    command = ["certbot", *args, "--non-interactive", "--max-log-backups", "20"]
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, check=False
        )
    except subprocess.TimeoutExpired:
        return False, "certbot did not finish within 15 minutes"
    lines = [line for line in done.stdout.splitlines() if not NOISE.match(line.strip())]
    return done.returncode == 0, "\n".join(lines[-15:])


def issuing_server(settings: Settings) -> str | None:
    """The ACME directory of the lineage's renewal settings; None when there is no lineage yet."""
    try:
        text = settings.renewal_conf.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    found = re.search(r"^server\s*=\s*(\S+)\s*$", text, flags=re.MULTILINE)
    return found.group(1) if found else ""


def obtain(settings: Settings, replace: bool) -> tuple[bool, str]:
    args = ["certonly", "--webroot", "--webroot-path", str(settings.webroot), "--agree-tos"]
    args += ["--cert-name", settings.domain, "--domain", settings.domain, "--server", settings.server]
    args += ["--deploy-hook", HOOK]
    contact = ["--email", settings.email, "--no-eff-email"]
    args += contact if settings.email else ["--register-unsafely-without-email"]
    if replace:
        # ACME_SERVER is not the one that issued the current certificate (e.g. staging, then production).
        args += ["--force-renewal", "--break-my-certs"]
    return certbot(*args)


def renew(settings: Settings) -> tuple[bool, str]:
    # No random sleep: the loop already runs at its own time of day, and a pass asked for (SIGHUP) runs now.
    hook = ["--deploy-hook", HOOK, "--no-random-sleep-on-renew"]
    return certbot("renew", "--cert-name", settings.domain, *hook)


def one_pass(settings: Settings, retry: int) -> bool:
    """Obtains or renews as due, then installs, and logs it; False when the CA could not be used."""
    issued_by = issuing_server(settings)
    served_before = _read(settings.served)
    failed = {"domain": settings.domain, "served_until": expiry(settings.served)}
    later = f"Nginx keeps serving the current certificate; next attempt in {retry // 60} minutes"
    domain = settings.domain
    if issued_by != settings.server:
        ok, output = obtain(settings, replace=issued_by is not None)
        if not ok:
            message = f"could not obtain a certificate for {domain} from {settings.server}; {later}"
            log("ERROR", message, **failed, certbot_output=output)
            return False
        done = f"obtained a certificate for {domain} from {settings.server}"
    else:
        before = _read(settings.lineage / "cert.pem")
        ok, output = renew(settings)
        if not ok:
            message = f"renewal of the certificate for {domain} failed; {later}"
            log("ERROR", message, **failed, certbot_output=output)
            return False
        renewed = _read(settings.lineage / "cert.pem") != before
        done = f"renewed the certificate for {domain}" if renewed else f"{domain}: not due for renewal yet"
    log("INFO", done, domain=domain, expires=expiry(settings.lineage / "cert.pem"))
    # certbot's deploy hook has installed it already (its lines went to certbot's output); else this does.
    install(settings)
    if _read(settings.served) != served_before:
        log_installed(settings)
    return True


class Loop:
    """The container's main loop: passes when due or asked for (SIGHUP), a look at certs/ in between."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.wake = threading.Event()
        self.stopping = threading.Event()

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum != signal.SIGHUP:
            self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        settings = self.settings
        log("INFO", f"keeping a certificate for {settings.domain} from {settings.server}")
        next_pass, retry, last, woken = 0.0, FIRST_RETRY, "", False
        while not self.stopping.is_set():
            state = classify(settings)
            if state == "hand" and last != "hand":
                message = "certs/ holds a certificate placed by hand: it is served as it is, and nothing is"
                log("INFO", message + " asked of the CA while it is there", expires=expiry(settings.served))
            elif state != "hand" and (woken or last == "hand" or time.monotonic() >= next_pass):
                if one_pass(settings, retry):
                    next_pass, retry = time.monotonic() + RENEW_EVERY, FIRST_RETRY
                else:
                    next_pass, retry = time.monotonic() + retry, min(retry * 2, RENEW_EVERY)
            elif state != "hand" and install(settings):
                log_installed(settings)
            last = state
            timeout = TICK if state == "hand" else min(TICK, max(0.0, next_pass - time.monotonic()))
            woken = self.wake.wait(timeout)
            self.wake.clear()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "run"
    if command not in {"run", "install"}:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env(os.environ)
    except ValueError as error:
        log("ERROR", f"{error}; certbot does nothing until it is fixed")
        if command == "install":
            return 1
        # Idle rather than exit: a container restarted again and again would only repeat this line.
        stop = {signal.SIGTERM, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        signal.sigwait(stop)
        return 0
    if command == "install":
        lineage = os.environ.get("RENEWED_LINEAGE")
        if install(settings, Path(lineage) if lineage else None):
            log_installed(settings)
        return 0
    loop = Loop(settings)
    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, loop.on_signal)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
