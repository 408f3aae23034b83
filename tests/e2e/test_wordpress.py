"""The WordPress plugin for real: Debian's WordPress, MariaDB and PHP, the plugin installed from the zip that
`make wp-plugin` builds, pointed at the running stack over HTTPS, and a page with [chatbot_faq] used through
Debian's Chromium (playwright-core). The API key must never reach the browser.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "wordpress"
WP_ROOT = Path("/usr/share/wordpress")
WP_CONFIG_DIR = Path("/etc/wordpress")
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "img" / "wordpress-chat-box.png"
PLUGIN_MAIN = ROOT / "plugins" / "wordpress" / "chatbot-faq" / "chatbot-faq.php"
NEEDED = ("php", "mariadbd", "mariadb", "mariadb-install-db", "node", "msgfmt")


@dataclass(frozen=True)
class Chatbot:
    """Where WordPress finds the chatbot, as an administrator would type it in the settings."""

    url: str
    api_key: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class WordPress:
    """A running WordPress site with the plugin active and a page holding [chatbot_faq]."""

    host: str
    config_name: str
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

    def ask(self, client: httpx.Client, message: Any, nonce: str | None) -> httpx.Response:
        headers = {"X-WP-Nonce": nonce} if nonce is not None else {}
        return client.post(self.rest_url, json={"message": message}, headers=headers)


def _start_mariadb(workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
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
    log = (workdir / "mariadb.log").open("wb")
    proc = subprocess.Popen(
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
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited {proc.returncode}: {(workdir / 'mariadb.log').read_text()}")
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
// Written by tests/e2e/test_wordpress.py for one test run; removed when it ends.
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


@pytest.fixture(scope="module")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    missing += [
        str(p)
        for p in (WP_ROOT / "wp-load.php", CHROMIUM, ROOT / "node_modules" / "playwright-core")
        if not p.exists()
    ]
    assert not missing, f"missing {missing}: run `make deps-clients`"

    workdir = tmp_path_factory.mktemp("wordpress")
    content_dir = workdir / "wp-content"
    for sub in ("plugins", "themes", "uploads", "languages"):
        (content_dir / sub).mkdir(parents=True)
    shutil.copytree(
        WP_ROOT / "wp-content" / "themes" / "twentytwentythree", content_dir / "themes" / "twentytwentythree"
    )
    for mo in (WP_ROOT / "wp-content" / "languages").glob("*fr_FR*"):
        shutil.copy(mo, content_dir / "languages" / mo.name)

    # The zip an administrator uploads, built as the README says.
    subprocess.run(["make", "-s", "wp-plugin"], cwd=ROOT, check=True, capture_output=True, timeout=120)
    version = re.search(r"^ \* Version:\s*(\S+)", PLUGIN_MAIN.read_text(), re.MULTILINE)
    assert version
    zip_path = ROOT / "build" / "wordpress" / f"chatbot-faq-{version.group(1)}.zip"

    mariadb, socket_path = _start_mariadb(workdir)
    db_password = secrets.token_hex(12)
    config_name = f"chatbot-faq-test-{secrets.token_hex(4)}"
    config_path = WP_CONFIG_DIR / f"config-{config_name}.php"
    port = _free_port()
    host = f"127.0.0.1:{port}"
    server: subprocess.Popen[bytes] | None = None
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
            host=host, config_name=config_name, workdir=workdir, admin_password=secrets.token_urlsafe(16)
        )
        site.info = site.wp("install", {"zip": str(zip_path), "admin_password": site.admin_password})
        site.page_url = site.info["page_url"]
        site.rest_url = site.info["rest_url"]

        server_log = (workdir / "php-server.log").open("wb")
        server = subprocess.Popen(
            ["php", "-S", host, "-t", str(WP_ROOT), str(HARNESS / "router.php")],
            cwd=WP_ROOT,
            env={
                **os.environ,
                "CHATBOT_FAQ_TEST_CONFIG": config_name,
                "CHATBOT_FAQ_TEST_CONTENT_DIR": str(content_dir),
                # Several PHP workers: the browser loads the page's assets while a question is pending.
                "PHP_CLI_SERVER_WORKERS": "4",
            },
            stdout=server_log,
            stderr=subprocess.STDOUT,
        )

        def home_answers() -> bool:
            assert server is not None
            if server.poll() is not None:
                raise RuntimeError((workdir / "php-server.log").read_text())
            try:
                return httpx.get(site.page_url, timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(home_answers, "WordPress", 60)
        yield site
    finally:
        if server is not None:
            _stop(server)
        _stop(mariadb)
        config_path.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def chatbot(stack: Stack) -> Chatbot:
    """The running stack's HTTPS address (self-signed certificate) and key."""
    return Chatbot(url=stack.https_url, api_key=stack.api_key)


@pytest.fixture
def visitor(wordpress: WordPress) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        yield client


ARTIFACTS = ROOT / "test-artifacts"


def _leaks(secret: str, seen: dict[str, Any]) -> list[str]:
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


def test_a_visitor_asks_through_wordpress_and_never_sees_the_key(
    wordpress: WordPress, chatbot: Chatbot
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": "fr_FR"})
    questions = ["Bonjour, comment ça va ?", "Quels sont vos horaires d'ouverture ?"]
    html_question = '<img src=x onerror="window.__chatbotFaqPwned=true"><b>gras</b>'
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    seen = wordpress.browse(
        questions=[*questions, html_question],
        screenshotAfter=len(questions) - 1,
        screenshot=str(SCREENSHOT),
        slowQuestion="Et le week-end ?",
        errorQuestion="#fault:500 une panne chez le fournisseur",
        locale="fr-FR",
    )

    assert seen["pageStatus"] == 200
    assert not seen["pageErrors"], seen["pageErrors"]
    # The guide's French texts are the plugin's French version.
    assert seen["title"] == "FAQ Intelligent"
    assert seen["placeholder"] == "Posez une question..."
    assert seen["buttonText"] == "Envoyer"
    assert seen["labelText"] == "Votre question"
    assert seen["logAttrs"] == {"role": "log", "ariaLive": "polite"}

    steps = seen["steps"]
    for step, question in zip(steps, questions, strict=False):
        assert step["reply"] is not None, step
        assert question in step["reply"], step
        assert not step["statusIsError"], step
        assert step["ariaBusy"] == "false"
        assert step["focusedIsInput"], "focus goes back to the input after a reply"

    # A reply is text, never HTML: the markup the model echoed shows as characters and runs nothing.
    html_step = steps[len(questions)]
    assert html_step["reply"] is not None
    assert html_question in html_step["reply"]
    assert html_step["imagesInLog"] == 0
    assert seen["pwned"] is False

    # While WordPress waits for the chatbot, the box says so and the button cannot be pressed twice.
    slow = steps[len(questions) + 1]
    assert slow["waiting"] == {
        "ariaBusy": "true",
        "buttonDisabled": True,
        "statusText": "Le chatbot réfléchit…",
    }
    assert slow["reply"] is not None
    assert "Et le week-end ?" in slow["reply"]

    # An upstream fault becomes a friendly, translated message in the error state.
    error = steps[len(questions) + 2]
    assert error["reply"] is None
    assert error["statusIsError"]
    assert (
        error["statusText"] == "Le chatbot ne peut pas répondre pour le moment. Veuillez réessayer plus tard."
    )

    # The browser only ever talked to WordPress, and the key is nowhere in what it saw or sent.
    assert all(r["url"].startswith(wordpress.base_url + "/") for r in seen["requests"]), [
        r["url"] for r in seen["requests"] if not r["url"].startswith(wordpress.base_url)
    ]
    assert not any(chatbot.url.split("://", 1)[1] in json.dumps(r) for r in seen["requests"])
    rest_calls = [r for r in seen["requests"] if "chatbot-faq/v1/chat" in r["url"]]
    assert len(rest_calls) == len(steps)
    assert all(r["headers"].get("x-wp-nonce") for r in rest_calls)
    assert _leaks(chatbot.api_key, seen) == []
    # No inline script at all in the chat box's markup: its settings are data attributes without secrets.
    box = re.search(r'<section class="chatbot-faq".*?</section>', seen["rawHtml"], re.DOTALL)
    assert box
    assert "<script" not in box.group(0)
    assert SCREENSHOT.stat().st_size > 5000

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "wordpress-browser.json").write_text(
        json.dumps(
            {
                "page_load_ms": seen["pageLoadMs"],
                "question_ms": [s["elapsedMs"] for s in steps[: len(questions)]],
            },
            indent=1,
        )
    )
