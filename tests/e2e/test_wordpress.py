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
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
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
SETTINGS_SCREENSHOT = ROOT / "docs" / "img" / "wordpress-settings.png"
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


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready within {timeout} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stops a process started in its own session, with its children (PHP's server workers)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


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
        start_new_session=True,
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
            host=host,
            config_name=config_name,
            config_path=config_path,
            workdir=workdir,
            admin_password=secrets.token_urlsafe(16),
        )
        site.info = site.wp("install", {"zip": str(zip_path), "admin_password": site.admin_password})
        site.page_url = site.info["page_url"]
        site.rest_url = site.info["rest_url"]

        server_log = (workdir / "php-server.log").open("wb")
        server = subprocess.Popen(
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
            start_new_session=True,
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
        shutil.rmtree(workdir / "mysql", ignore_errors=True)


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


def test_the_rest_route_refuses_a_request_without_the_pages_nonce(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": ""})

    missing = wordpress.ask(visitor, "Bonjour", nonce=None)
    forged = wordpress.ask(visitor, "Bonjour", nonce="0123456789")
    assert missing.status_code == 403
    assert missing.json()["message"] == "This page has expired. Please reload it and ask again."
    assert forged.status_code == 403

    answered = wordpress.ask(visitor, "Bonjour", nonce=wordpress.nonce(visitor))
    assert answered.status_code == 200
    assert "Bonjour" in answered.json()["reply"]
    assert chatbot.api_key not in answered.text
    assert answered.headers["cache-control"] == "no-store"


def test_a_questions_request_id_links_wordpress_and_the_chatbots_logs(
    wordpress: WordPress, chatbot: Chatbot, stack: Stack, fake_openai: httpx.Client, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot)
    question = f"Suivi de bout en bout {secrets.token_hex(4)}"
    answered = wordpress.ask(visitor, question, wordpress.nonce(visitor))
    assert answered.status_code == 200
    request_id = answered.headers["x-request-id"]

    # The chatbot kept WordPress's id: its access log line for this question carries it.
    logged = stack.wait_for_log("chatbot", lambda r: r.get("request_id") == request_id)
    assert any(r.get("httpRequest", {}).get("requestUrl") == "/chat" for r in logged), logged
    # And the question reached the upstream model as the visitor typed it, with the upstream's key only.
    upstream = [r for r in fake_openai.get("/_fake/requests").json() if question in json.dumps(r["body"])]
    assert len(upstream) == 1
    assert question in upstream[0]["body"]["messages"][-1]["content"]
    assert chatbot.api_key not in json.dumps(upstream[0])


def test_the_rest_route_validates_the_question(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": ""})
    nonce = wordpress.nonce(visitor)

    empty = wordpress.ask(visitor, "   ", nonce)
    too_long = wordpress.ask(visitor, "x" * 2001, nonce)
    not_text = wordpress.ask(visitor, {"nested": "object"}, nonce)
    missing = visitor.post(wordpress.rest_url, json={}, headers={"X-WP-Nonce": nonce})
    assert empty.status_code == 400
    assert "Please type a question." in empty.text
    assert too_long.status_code == 400
    assert "under 2000 characters" in too_long.text
    assert not_text.status_code == 400
    assert missing.status_code == 400
    # Control characters are dropped; the rest of the question reaches the chatbot as typed.
    kept = wordpress.ask(visitor, "Is 3 < 5 \x07and <br> a tag?", nonce)
    assert kept.status_code == 200
    assert "Is 3 < 5 and <br> a tag?" in kept.json()["reply"]


def test_each_visitor_is_rate_limited(wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client) -> None:
    wordpress.configure(chatbot, rate_limit=3)
    wordpress.wp("locale", {"locale": ""})
    nonce = wordpress.nonce(visitor)

    statuses = [wordpress.ask(visitor, f"Question {i}", nonce).status_code for i in range(3)]
    limited = wordpress.ask(visitor, "One too many", nonce)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["message"] == "You are asking too fast. Please wait a moment and try again."

    # Once the window is over (forgotten here rather than waited for), the visitor may ask again.
    wordpress.wp("reset-rate-limit")
    assert wordpress.ask(visitor, "After the window", nonce).status_code == 200


def test_chatbot_faults_become_friendly_messages(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.wp("locale", {"locale": ""})

    wordpress.configure(None)
    nonce = wordpress.nonce(visitor)
    unconfigured = wordpress.ask(visitor, "Bonjour", nonce)
    assert unconfigured.status_code == 503
    assert unconfigured.json()["message"] == "The chatbot is not configured yet. Please try again later."

    wordpress.configure(Chatbot(url=chatbot.url, api_key="not-the-key"))
    wrong_key = wordpress.ask(visitor, "Bonjour", nonce)
    assert wrong_key.status_code == 502
    assert wrong_key.json()["message"] == "The chatbot cannot answer right now. Please try again later."

    # TLS verification on, against the stack's self-signed certificate: WordPress refuses to talk to it.
    wordpress.configure(chatbot, verify_tls=True)
    unverified = wordpress.ask(visitor, "Bonjour", nonce)
    assert unverified.status_code == 502
    assert unverified.json()["message"] == (
        "The chatbot cannot be reached right now. Please try again in a moment."
    )

    wordpress.configure(chatbot)
    slow = wordpress.ask(visitor, "#fault:slow une question qui ne vient jamais", nonce)
    assert slow.status_code == 504
    assert slow.json()["message"] == "The chatbot took too long to answer. Please try again."

    for response in (unconfigured, wrong_key, unverified, slow):
        assert chatbot.api_key not in response.text
        assert chatbot.url.split("://", 1)[1] not in response.text


def test_english_is_the_default_language(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": ""})
    html = visitor.get(wordpress.page_url).text

    assert '<h2 class="chatbot-faq__title" id="chatbot-faq-1-title">Smart FAQ</h2>' in html
    assert 'placeholder="Ask a question..."' in html
    assert ">Send</button>" in html
    assert 'aria-live="polite"' in html
    assert "chatbot-faq/assets/js/chatbot-faq.js" in html
    assert "chatbot-faq/assets/css/chatbot-faq.css" in html
    assert chatbot.api_key not in html
    assert chatbot.url.split("://", 1)[1] not in html


def test_one_question_through_wordpress_chatbot_and_upstream_is_timed(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    """The README figure: one question through WordPress -> chatbot (HTTPS) -> fake upstream."""
    wordpress.configure(chatbot, rate_limit=0)
    nonce = wordpress.nonce(visitor)
    wordpress.ask(visitor, "warm-up", nonce).raise_for_status()
    timings = []
    for i in range(20):
        started = time.perf_counter()
        response = wordpress.ask(visitor, f"Question chronométrée {i}", nonce)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        assert f"Question chronométrée {i}" in response.json()["reply"]
    timings.sort()
    figures = {
        "questions": len(timings),
        "median_ms": round(timings[len(timings) // 2], 1),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 1),
        "min_ms": round(timings[0], 1),
        "max_ms": round(timings[-1], 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "wordpress-timing.json").write_text(json.dumps(figures, indent=1))
    # Generous bound for a 2-core machine: the fake upstream answers at once, so this is our own overhead.
    assert figures["median_ms"] < 2000, figures


SETTINGS_PAGE = "/wp-admin/options-general.php?page=chatbot-faq"


def _form_fields(html: str) -> dict[str, str]:
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


def test_the_settings_page_is_for_administrators_and_never_shows_the_key(
    wordpress: WordPress, chatbot: Chatbot
) -> None:
    wordpress.configure(chatbot)
    wordpress.wp("locale", {"locale": ""})
    with httpx.Client(timeout=60, follow_redirects=True) as admin:
        wordpress.login(admin, "admin", wordpress.admin_password)
        page = admin.get(wordpress.base_url + SETTINGS_PAGE)
        assert page.status_code == 200
        assert "<h1>Chatbot FAQ</h1>" in page.text
        assert f'value="{chatbot.url}"' in page.text
        key_field = re.search(r'<input type="password"[^>]*id="chatbot_faq_api_key"[^>]*>', page.text)
        assert key_field
        assert 'value=""' in key_field.group(0)
        assert "Saved (hidden)" in page.text
        assert chatbot.api_key not in page.text
        assert "unencrypted" not in page.text

        # Saving the form with the key field left empty keeps the key; other fields are sanitised.
        fields = _form_fields(page.text)
        assert fields["option_page"] == "chatbot_faq"
        saved = admin.post(
            wordpress.base_url + "/wp-admin/options.php",
            data={
                **fields,
                "chatbot_faq_settings[api_url]": chatbot.url + "/",
                "chatbot_faq_settings[api_key]": "",
                "chatbot_faq_settings[form]": "1",
                "chatbot_faq_settings[rate_limit]": "5",
                "chatbot_faq_settings[title]": "Aide <script>alert(1)</script>",
                "chatbot_faq_settings[placeholder]": "Votre question ici",
            },
        )
        assert saved.status_code == 200
        assert "settings-updated=true" in str(saved.url)
        assert chatbot.api_key not in saved.text
        stored = wordpress.wp("get-settings")
        assert stored["api_key"] == chatbot.api_key
        assert stored["api_url"] == chatbot.url
        assert stored["verify_tls"] is False
        assert stored["rate_limit"] == 5
        assert stored["title"] == "Aide"
        assert stored["placeholder"] == "Votre question ici"

        # A key pasted with spaces and a line break is stored as the header value it must be.
        pasted = admin.post(
            wordpress.base_url + "/wp-admin/options.php",
            data={
                **fields,
                "chatbot_faq_settings[api_url]": chatbot.url,
                "chatbot_faq_settings[api_key]": f"  {chatbot.api_key}\r\n",
                "chatbot_faq_settings[form]": "1",
            },
        )
        assert pasted.status_code == 200
        assert wordpress.wp("get-settings")["api_key"] == chatbot.api_key

        # Without the form's nonce, nothing is saved.
        forged = admin.post(
            wordpress.base_url + "/wp-admin/options.php",
            data={**fields, "_wpnonce": "0123456789", "chatbot_faq_settings[title]": "Forged"},
        )
        assert forged.status_code == 403
        assert wordpress.wp("get-settings")["title"] == "Aide"

        # An http:// address to another machine would carry the key in clear: the page says so.
        wordpress.configure(Chatbot(url="http://chatbot.example.com", api_key=chatbot.api_key))
        warned = admin.get(wordpress.base_url + SETTINGS_PAGE).text
        assert "the API key would cross the network unencrypted" in warned
        # The page as an administrator sees it in a browser (the README shows it, hence a stable address), the
        # key nowhere.
        wordpress.configure(Chatbot(url="https://chatbot.example.com", api_key=chatbot.api_key))
        seen = wordpress.browse(
            url=wordpress.base_url + SETTINGS_PAGE,
            cookies=[
                {"name": c.name, "value": c.value or "", "domain": "127.0.0.1", "path": "/"}
                for c in admin.cookies.jar
            ],
            elementScreenshot={"selector": "#wpbody-content .wrap", "path": str(SETTINGS_SCREENSHOT)},
        )
        assert seen["pageStatus"] == 200
        assert "Connection to the chatbot" in seen["domHtml"]
        assert _leaks(chatbot.api_key, seen) == []
        assert SETTINGS_SCREENSHOT.stat().st_size > 5000
        wordpress.configure(chatbot, title="Aide")

    password = secrets.token_urlsafe(12)
    wordpress.wp("add-user", {"login": "editor1", "password": password, "role": "editor"})
    with httpx.Client(timeout=60, follow_redirects=True) as editor:
        wordpress.login(editor, "editor1", password)
        refused = editor.get(wordpress.base_url + SETTINGS_PAGE)
        assert refused.status_code == 403
        assert chatbot.api_key not in refused.text
        posted = editor.post(
            wordpress.base_url + "/wp-admin/options.php",
            data={**fields, "chatbot_faq_settings[title]": "Editor was here"},
        )
        assert posted.status_code == 403
    assert wordpress.wp("get-settings")["title"] == "Aide"


def test_wp_config_constants_win_over_the_settings_page(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.wp("locale", {"locale": ""})
    # The settings page holds a wrong address and key; wp-config.php holds the right ones.
    wordpress.configure(Chatbot(url="https://127.0.0.1:9", api_key="stale-key"), verify_tls=True)
    wordpress.set_constants(
        {
            "CHATBOT_FAQ_API_URL": chatbot.url,
            "CHATBOT_FAQ_API_KEY": chatbot.api_key,
            "CHATBOT_FAQ_VERIFY_TLS": False,
        }
    )
    try:
        answered = wordpress.ask(visitor, "Bonjour des constantes", wordpress.nonce(visitor))
        assert answered.status_code == 200, answered.text
        assert "Bonjour des constantes" in answered.json()["reply"]

        with httpx.Client(timeout=60, follow_redirects=True) as admin:
            wordpress.login(admin, "admin", wordpress.admin_password)
            page = admin.get(wordpress.base_url + SETTINGS_PAGE).text
        assert page.count("Set in wp-config.php: this value cannot be changed here.") == 3
        assert re.search(r'id="chatbot_faq_api_key"[^>]*disabled', page)
        assert chatbot.api_key not in page
        assert "stale-key" not in page
    finally:
        wordpress.set_constants({})


def test_uninstall_removes_the_plugins_data(
    wordpress: WordPress, chatbot: Chatbot, visitor: httpx.Client
) -> None:
    wordpress.configure(chatbot, rate_limit=5)
    # Leave a rate-limit window behind, as visitors do.
    assert wordpress.ask(visitor, "Bonjour", wordpress.nonce(visitor)).status_code == 200
    try:
        left = wordpress.wp("uninstall")
        assert left == {"option": None, "leftovers": 0, "active": False}
    finally:
        assert wordpress.wp("activate") == {"active": True}
