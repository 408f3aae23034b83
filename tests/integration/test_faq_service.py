"""The FAQ through the real service: offline answers, grounding sent upstream, live reload, bad files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import API_KEY, service_env, upstream_requests
from tests.integration.helpers import log_records, wait_for_records
from tests.processes import Process, base_env, service

SHOP_FAQ = Path(__file__).parents[1] / "unit" / "data" / "faq_shop.md"
HEADERS = {"x-api-key": API_KEY}


@pytest.fixture(scope="module")
def faq_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="faq-"))
    shutil.copy(SHOP_FAQ, folder / "faq.md")
    return folder


@pytest.fixture(scope="module")
def offline(faq_dir: Path) -> Iterator[tuple[str, Process]]:
    env = {
        "API_KEY": API_KEY,
        "FAQ_FILE": str(faq_dir / "faq.md"),
        "FAQ_RELOAD_SECONDS": "0.2",
        "WORKERS": "1",
    }
    with service(env) as running:
        yield running


def chat(url: str, message: str) -> httpx.Response:
    return httpx.post(url + "/chat", json={"message": message}, headers=HEADERS)


def test_first_log_line_says_which_mode(offline: tuple[str, Process]) -> None:
    wait_for_records(offline[1], lambda r: "faq mode" in r["message"])
    first = log_records(offline[1])[0]
    assert "faq mode" in first["message"]
    assert "12 entries" in first["message"]


def test_readyz_counts_the_entries(offline: tuple[str, Process]) -> None:
    assert httpx.get(offline[0] + "/readyz").json() == {
        "status": "ready",
        "provider": "faq",
        "faq_entries": 12,
        "redis": "off",
    }


@pytest.mark.parametrize(
    ("message", "source"),
    [
        ("a quelle heure ouvrez vous le dimanche", "Quels sont vos horaires d'ouverture ?"),
        ("When do you open on sunday?", "What are your opening hours?"),
        ("vous faites la livraision ?", "Livrez-vous à domicile ?"),
        ("Do you deliver to my home?", "Do you deliver?"),
    ],
)
def test_offline_answers_come_from_the_best_entry(
    offline: tuple[str, Process], message: str, source: str
) -> None:
    response = chat(offline[0], message)
    assert response.status_code == 200
    body = response.json()
    assert body["sources"] == [source]
    assert body["reply"]


@pytest.mark.parametrize(
    ("message", "fallback"),
    [
        ("Quel est le prix d'un billet d'avion pour Tokyo ?", "Désolé"),
        ("Who won the football world cup?", "Sorry"),
    ],
)
def test_off_topic_questions_get_the_fallback_in_their_language(
    offline: tuple[str, Process], message: str, fallback: str
) -> None:
    body = chat(offline[0], message).json()
    assert body["sources"] == []
    assert body["reply"].startswith(fallback)


def test_an_edit_is_picked_up_without_restart_and_a_broken_one_is_ignored(
    offline: tuple[str, Process], faq_dir: Path
) -> None:
    url, proc = offline
    faq = faq_dir / "faq.md"
    original = faq.read_text()
    try:
        # Saved as most editors do: a new file renamed over the old one.
        tmp = faq_dir / ".faq.md.swp"
        tmp.write_text(original + "\n## Avez-vous des croissants aux amandes ?\n\nOui, tous les matins.\n")
        os.replace(tmp, faq)
        deadline = time.monotonic() + 10
        while chat(url, "croissants aux amandes").json()["sources"] != [
            "Avez-vous des croissants aux amandes ?"
        ]:
            assert time.monotonic() < deadline, "edit not picked up"
            time.sleep(0.2)
        faq.write_text("## A question without an answer?\n")
        wait_for_records(proc, lambda r: r["severity"] == "ERROR" and "last good version" in r["message"])
        assert chat(url, "croissants aux amandes").json()["sources"] == [
            "Avez-vous des croissants aux amandes ?"
        ]
    finally:
        faq.write_text(original)


@pytest.fixture(scope="module")
def grounded(upstream: str, faq_dir: Path) -> Iterator[str]:
    with service(service_env(upstream, FAQ_FILE=str(SHOP_FAQ), WORKERS="1")) as (url, _):
        yield url


def test_grounded_mode_sends_the_relevant_entries_upstream(grounded: str, upstream: str) -> None:
    httpx.post(upstream.removesuffix("/v1") + "/_fake/reset")
    response = chat(grounded, "Livrez-vous à domicile, et c'est combien ?")
    assert response.status_code == 200
    body = response.json()
    assert body["reply"].startswith("Echo: ")
    assert body["sources"][0] == "Livrez-vous à domicile ?"
    (sent,) = upstream_requests(upstream)
    system, user = sent["body"]["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("Tu es l'assistant du site.")  # SYSTEM_PROMPT first
    assert "### Livrez-vous à domicile ?" in system["content"]
    assert "gratuite" in system["content"]
    assert "horaires" not in system["content"]
    assert user == {"role": "user", "content": "Livrez-vous à domicile, et c'est combien ?"}


def test_grounded_mode_without_a_match_tells_the_model_so(grounded: str, upstream: str) -> None:
    httpx.post(upstream.removesuffix("/v1") + "/_fake/reset")
    body = chat(grounded, "Who won the football world cup?").json()
    assert "sources" not in body
    (sent,) = upstream_requests(upstream)
    assert "no FAQ entry matches" in sent["body"]["messages"][0]["content"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), (b"## Question?\n", "has no answer"), (b"\xff\xfe## x", "faq.md")],
    ids=["missing", "malformed", "not-utf8"],
)
def test_a_bad_faq_file_stops_the_start_with_one_line(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "faq.md"
    if content is not None:
        path.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "chatbot"],
        env={**base_env(), "API_KEY": API_KEY, "FAQ_FILE": str(path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] or "faq.md" in lines[0]
    assert expected in lines[0]


def test_an_empty_faq_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "faq.md").write_text("")
    with service({"API_KEY": API_KEY, "FAQ_FILE": str(tmp_path / "faq.md"), "WORKERS": "1"}) as (url, _):
        assert httpx.get(url + "/readyz").json()["faq_entries"] == 0
        assert chat(url, "bonjour, vous êtes ouverts ?").json()["sources"] == []
