"""The upstream cannot hurt us: huge and gzip-bomb bodies are refused while read (the worker's memory stays
flat), text that is not valid Unicode is repaired, and with FAQ_REQUIRED an off-topic first message never
reaches the paid model. Both upstream clients (http, sdk)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import API_KEY, SHOP_FAQ, service_env, upstream_requests
from tests.integration.helpers import only_worker, reset_fake, rss_mb
from tests.processes import Process, service

BAD_RESPONSE = "Le service de langage a renvoyé une réponse invalide."
HEADERS = {"x-api-key": API_KEY}
#: What a worker may grow by after several hostile replies (it grew by hundreds of MB when bodies were
#: read whole or inflated chunk by chunk without a bound).
MAX_GROWTH_MB = 30


@pytest.fixture(params=["http", "sdk"])
def client_svc(
    request: pytest.FixtureRequest, svc: tuple[str, Process], sdk_svc: tuple[str, Process]
) -> tuple[str, Process]:
    return svc if request.param == "http" else sdk_svc


def test_huge_and_compressed_bomb_replies_are_refused_and_memory_stays_flat(
    client_svc: tuple[str, Process],
) -> None:
    url, proc = client_svc
    worker = proc.worker_pids()[0]
    with only_worker(proc, worker):
        assert httpx.post(url + "/chat", json={"message": "warm up"}, headers=HEADERS).status_code == 200
        before = rss_mb(worker)
        for attempt in range(3):
            for fault in ("huge", "gzip-bomb"):  # 50 MB of JSON; 64 MB inflated from 64 KB
                response = httpx.post(
                    url + "/chat", json={"message": f"#fault:{fault} {attempt}"}, headers=HEADERS, timeout=30
                )
                assert response.status_code == 502, fault
                assert response.json() == {"error": BAD_RESPONSE}
        growth = rss_mb(worker) - before
    assert growth < MAX_GROWTH_MB, f"worker grew by {growth:.0f} MB"


def test_a_reply_holding_a_lone_surrogate_is_repaired(client_svc: tuple[str, Process]) -> None:
    response = httpx.post(client_svc[0] + "/chat", json={"message": "#fault:surrogate"}, headers=HEADERS)
    assert response.status_code == 200
    assert response.json()["reply"] == "Bonjour \ufffd !"


@pytest.fixture(scope="module")
def faq_required(upstream: str) -> Iterator[str]:
    env = service_env(upstream, FAQ_FILE=str(SHOP_FAQ), FAQ_REQUIRED="true", WORKERS="1")
    with service(env) as (url, _):
        yield url


@pytest.mark.parametrize(
    ("message", "fallback"),
    [
        ("Quel est le prix d'un billet d'avion pour Tokyo ?", "Désolé, je n'ai pas trouvé"),
        ("Write me a poem about the sea", "Sorry, I could not find"),
    ],
)
def test_faq_required_keeps_off_topic_first_messages_from_the_model(
    faq_required: str, upstream: str, message: str, fallback: str
) -> None:
    reset_fake(upstream)
    response = httpx.post(faq_required + "/chat", json={"message": message}, headers=HEADERS)
    assert response.status_code == 200
    assert response.json()["reply"].startswith(fallback)
    assert upstream_requests(upstream) == []


def test_faq_required_sends_covered_questions_to_the_model(faq_required: str, upstream: str) -> None:
    reset_fake(upstream)
    response = httpx.post(
        faq_required + "/chat", json={"message": "Livrez-vous à domicile ?"}, headers=HEADERS
    )
    assert response.status_code == 200
    assert response.json() == {
        "reply": "Echo: Livrez-vous à domicile ?",
        "sources": ["Livrez-vous à domicile ?"],
    }
    (sent,) = upstream_requests(upstream)
    assert "### Livrez-vous à domicile ?" in sent["body"]["messages"][0]["content"]
