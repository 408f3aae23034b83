"""A real WordPress site for the plugin's tests: Debian's WordPress, MariaDB and PHP's built-in server, the
plugin installed from the zip that `make wp-plugin` builds, a page with [chatbot_faq]. One site per session,
shared by every tests/e2e/test_wordpress*.py file through the fixtures at the end (tests/e2e/conftest.py
imports them).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.processes import Process, free_port

if TYPE_CHECKING:
    from tests.e2e.conftest import Stack

ROOT = Path(__file__).resolve().parents[3]
HARNESS = Path(__file__).resolve().parent
WP_ROOT = Path("/usr/share/wordpress")
WP_CONFIG_DIR = Path("/etc/wordpress")
CHROMIUM = Path("/usr/bin/chromium")
PLUGIN_MAIN = ROOT / "plugins" / "wordpress" / "chatbot-faq" / "chatbot-faq.php"
ARTIFACTS = ROOT / "test-artifacts"
NEEDED = ("php", "mariadbd", "mariadb", "mariadb-install-db", "node", "msgfmt")
#: PHP server workers: the browser loads the page's assets while a question is pending, and the rate-limit
#: tests need more requests in flight at once than the limit lets through.
PHP_WORKERS = 8


@dataclass(frozen=True)
class Chatbot:
    """Where WordPress finds the chatbot, as an administrator would type it in the settings."""

    url: str
    api_key: str


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout} s")


@dataclass
class WordPress:
    """A running WordPress site with the plugin active and a page holding [chatbot_faq]."""

    host: str
    config_name: str
    config_path: Path
    workdir: Path
    admin_password: str
    page_url: str = ""
    rest_url: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def wp(self, command: str, args: dict[str, Any] | None = None) -> Any:
        """Runs one command of tests/e2e/wordpress/wp.php and returns its JSON answer."""
        proc = subprocess.run(
            ["php", str(HARNESS / "wp.php"), self.host, command, json.dumps(args or {})],
            env={**os.environ, "CHATBOT_FAQ_TEST_CONFIG": self.config_name},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith(("{", "[", "null"))]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"wp.php {command} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return json.loads(lines[-1])

    def configure(self, chatbot: Chatbot | None, **extra: Any) -> None:
        """Sets the plugin's option as the settings page would, and forgets every rate-limit window."""
        settings: dict[str, Any] = {
            "api_url": chatbot.url if chatbot else "",
            "api_key": chatbot.api_key if chatbot else "",
            "title": "",
            "placeholder": "",
            # The stack's certificate is self-signed.
            "verify_tls": False,
            "rate_limit": 10,
        }
        settings.update(extra)
        self.wp("settings", settings)
        self.wp("reset-rate-limit")

    def set_constants(self, constants: dict[str, str | bool]) -> None:
        """Adds (or, with {}, removes) define()s at the end of the site's wp-config, as an owner would."""
        marker = "// chatbot-faq constants\n"
        text = self.config_path.read_text().split(marker)[0]
        if constants:
            text += marker + "".join(f"define( '{k}', {json.dumps(v)} );\n" for k, v in constants.items())
        before = self.config_path.stat().st_mtime
        self.config_path.write_text(text)
        # OPcache (on in the PHP server, revalidating every request) sees a change by its mtime in seconds.
        mtime = max(time.time(), before + 2)
        os.utime(self.config_path, (mtime, mtime))

    def login(self, client: httpx.Client, user: str, password: str) -> None:
        """Logs in through wp-login.php, as a person would."""
        client.get(f"{self.base_url}/wp-login.php")  # sets wordpress_test_cookie
        response = client.post(
            f"{self.base_url}/wp-login.php",
            data={"log": user, "pwd": password, "wp-submit": "Log In", "testcookie": "1"},
        )
        assert any(name.startswith("wordpress_logged_in_") for name in client.cookies), response.text[-2000:]

    def browse(self, **args: Any) -> dict[str, Any]:
        """Runs tests/e2e/wordpress/browser.mjs against the page and returns what it saw."""
        out = self.workdir / f"browser-{time.monotonic_ns()}.json"
        payload = {"url": self.page_url, "out": str(out), "executablePath": str(CHROMIUM), **args}
        proc = subprocess.run(
            ["node", str(HARNESS / "browser.mjs"), json.dumps(payload)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"browser.mjs exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result

    def nonce(self, client: httpx.Client) -> str:
        """The wp_rest nonce that the page gives the chat box, as a visitor's browser gets it."""
        page = client.get(self.page_url)
        page.raise_for_status()
        match = re.search(r'data-nonce="([0-9a-f]+)"', page.text)
        assert match, "the chat box carries no nonce"
        return match.group(1)

    def ask(
        self, client: httpx.Client, message: Any, nonce: str | None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {**(headers or {}), **({"X-WP-Nonce": nonce} if nonce is not None else {})}
        return client.post(self.rest_url, json={"message": message}, headers=headers)

    def database_errors(self) -> list[str]:
        """The database errors WordPress has logged so far (wpdb logs every failed query to debug.log)."""
        log = self.workdir / "debug.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [line for line in lines if "WordPress database error" in line]

    def ask_together(self, questions: list[str], nonce: str, headers: dict[str, str]) -> list[httpx.Response]:
        """Sends every question at once, each on its own connection, and returns the answers in order.

        The test mu-plugin holds each request just before the route's callback until one shared instant
        (answering X-Test-Held: 1 and the worker's pid in X-Test-Worker), so that every request a PHP worker
        has taken by then reaches the rate limiter at the same moment.
        """
        release_at = time.time() + 2.5
        held = {**headers, "X-Test-Release-At": f"{release_at:.6f}"}

        def one(question: str) -> httpx.Response:
            with httpx.Client(timeout=60) as client:
                return self.ask(client, question, nonce, held)

        with ThreadPoolExecutor(len(questions)) as pool:
            return list(pool.map(one, questions))


def leaks(secret: str, seen: dict[str, Any]) -> list[str]:
    """Every place in what the browser saw or sent that contains the secret."""
    places = []
    if secret in seen["rawHtml"]:
        places.append("page HTML as served")
    if secret in seen["domHtml"]:
        places.append("page DOM")
    for request in seen["requests"]:
        if secret in json.dumps(request):
            places.append(f"request {request['method']} {request['url']}")
    for response in seen["responses"]:
        if secret in json.dumps(response):
            places.append(f"response from {response['url']}")
    if secret in json.dumps(seen["cookies"]):
        places.append("cookies")
    return places


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields of the settings form (option group, action, nonce, referer)."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        attrs = dict(re.findall(r"""(\w+)=["']([^"']*)["']""", tag))
        if attrs.get("type") == "hidden" and attrs.get("name") in {
            "option_page",
            "action",
            "_wpnonce",
            "_wp_http_referer",
        }:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def _start_mariadb(workdir: Path) -> tuple[Process, Path]:
    datadir = workdir / "mysql"
    socket_path = workdir / "mysqld.sock"
    subprocess.run(
        [
            "mariadb-install-db",
            "--user=root",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    proc = Process(
        [
            "mariadbd",
            "--no-defaults",
            "--user=root",
            f"--datadir={datadir}",
            f"--socket={socket_path}",
            f"--pid-file={workdir / 'mysqld.pid'}",
            "--skip-networking",
            "--innodb-buffer-pool-size=64M",
        ],
        dict(os.environ),
        log_file=workdir / "mariadb.log",
    )

    def answers() -> bool:
        if proc.proc.poll() is not None:
            log = (workdir / "mariadb.log").read_text()
            raise RuntimeError(f"mariadbd exited {proc.proc.returncode}: {log}")
        return (
            socket_path.exists()
            and subprocess.run(
                ["mariadb", f"--socket={socket_path}", "-uroot", "-e", "SELECT 1"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )

    _wait(answers, "MariaDB", 60)
    return proc, socket_path


def _write_config(path: Path, *, host: str, workdir: Path, socket_path: Path, db_password: str) -> None:
    content_dir = workdir / "wp-content"
    salts = "\n".join(
        f"define( '{name}', '{secrets.token_hex(32)}' );"
        for name in (
            "AUTH_KEY",
            "SECURE_AUTH_KEY",
            "LOGGED_IN_KEY",
            "NONCE_KEY",
            "AUTH_SALT",
            "SECURE_AUTH_SALT",
            "LOGGED_IN_SALT",
            "NONCE_SALT",
        )
    )
    path.write_text(
        f"""<?php
// Written by tests/e2e/wordpress/harness.py for one test run; removed when it ends.
define( 'DB_NAME', 'chatbot_faq_test' );
define( 'DB_USER', 'chatbot_faq' );
define( 'DB_PASSWORD', '{db_password}' );
define( 'DB_HOST', 'localhost:{socket_path}' );
define( 'WP_HOME', 'http://{host}' );
define( 'WP_SITEURL', 'http://{host}' );
define( 'WP_CONTENT_DIR', '{content_dir}' );
define( 'WP_CONTENT_URL', 'http://{host}/wp-content' );
define( 'WP_LANG_DIR', '{content_dir}/languages' );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'WP_ACCESSIBLE_HOSTS', '127.0.0.1,localhost' );
define( 'FS_METHOD', 'direct' );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', '{workdir}/debug.log' );
define( 'WP_DEBUG_DISPLAY', false );
{salts}
$table_prefix = 'wp_';
"""
    )


@contextmanager
def running_wordpress(workdir: Path) -> Iterator[WordPress]:
    """Installs and serves a site in `workdir`; stops it and removes its config and database when done."""
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    missing += [
        str(p)
        for p in (WP_ROOT / "wp-load.php", CHROMIUM, ROOT / "node_modules" / "playwright-core")
        if not p.exists()
    ]
    assert not missing, f"missing {missing}: run `make deps-clients`"

    content_dir = workdir / "wp-content"
    for sub in ("plugins", "themes", "uploads", "languages", "mu-plugins"):
        (content_dir / sub).mkdir(parents=True)
    shutil.copytree(
        WP_ROOT / "wp-content" / "themes" / "twentytwentythree", content_dir / "themes" / "twentytwentythree"
    )
    for mo in (WP_ROOT / "wp-content" / "languages").glob("*fr_FR*"):
        shutil.copy(mo, content_dir / "languages" / mo.name)
    shutil.copy(HARNESS / "mu-plugin.php", content_dir / "mu-plugins" / "chatbot-faq-test.php")

    # The zip an administrator uploads, built as the README says.
    subprocess.run(["make", "-s", "wp-plugin"], cwd=ROOT, check=True, capture_output=True, timeout=120)
    version = re.search(r"^ \* Version:\s*(\S+)", PLUGIN_MAIN.read_text(), re.MULTILINE)
    assert version
    zip_path = ROOT / "build" / "wordpress" / f"chatbot-faq-{version.group(1)}.zip"

    mariadb, socket_path = _start_mariadb(workdir)
    db_password = secrets.token_hex(12)
    config_name = f"chatbot-faq-test-{secrets.token_hex(4)}"
    config_path = WP_CONFIG_DIR / f"config-{config_name}.php"
    host = f"127.0.0.1:{free_port()}"
    server: Process | None = None
    try:
        subprocess.run(
            [
                "mariadb",
                f"--socket={socket_path}",
                "-uroot",
                "-e",
                "CREATE DATABASE chatbot_faq_test CHARACTER SET utf8mb4; "
                f"CREATE USER 'chatbot_faq'@'localhost' IDENTIFIED BY '{db_password}'; "
                "GRANT ALL ON chatbot_faq_test.* TO 'chatbot_faq'@'localhost';",
            ],
            check=True,
            capture_output=True,
        )
        WP_CONFIG_DIR.mkdir(parents=True, exist_ok=True)
        _write_config(
            config_path, host=host, workdir=workdir, socket_path=socket_path, db_password=db_password
        )

        site = WordPress(
            host=host,
            config_name=config_name,
            config_path=config_path,
            workdir=workdir,
            admin_password=secrets.token_urlsafe(16),
        )
        site.info = site.wp("install", {"zip": str(zip_path), "admin_password": site.admin_password})
        site.page_url = site.info["page_url"]
        site.rest_url = site.info["rest_url"]

        server = Process(
            [
                "php",
                # OPcache on, as on a production server, but checking files at every request.
                "-d",
                "opcache.revalidate_freq=0",
                "-S",
                host,
                "-t",
                str(WP_ROOT),
                str(HARNESS / "router.php"),
            ],
            {
                **os.environ,
                "CHATBOT_FAQ_TEST_CONFIG": config_name,
                "CHATBOT_FAQ_TEST_CONTENT_DIR": str(content_dir),
                # Without it, PHP's built-in server answers one request at a time.
                "PHP_CLI_SERVER_WORKERS": str(PHP_WORKERS),
            },
            cwd=WP_ROOT,
            log_file=workdir / "php-server.log",
        )
        server.wait_http(site.page_url, 60)
        yield site
    finally:
        if server is not None:
            server.stop()
        mariadb.stop()
        config_path.unlink(missing_ok=True)
        shutil.rmtree(workdir / "mysql", ignore_errors=True)


@pytest.fixture(scope="session")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    with running_wordpress(tmp_path_factory.mktemp("wordpress")) as site:
        yield site


@pytest.fixture(scope="session")
def chatbot(stack: Stack) -> Chatbot:
    """The running stack's HTTPS address (self-signed certificate) and key."""
    return Chatbot(url=stack.https_url, api_key=stack.api_key)


@pytest.fixture
def visitor(wordpress: WordPress) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        yield client
