"""Conversations on a real Redis: earlier turns reach the model in order, trimmed and expiring; a conversation
belongs to the key that started it; its owner can read and forget it; FAQ grounding follows the topic."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.conftest import API_KEY, CONVERSATION_TTL, OLD_KEY, upstream_requests
from tests.integration.helpers import post_chat, reset_fake
from tests.processes import Process, RedisServer

TTL = CONVERSATION_TTL
NEW_ID = re.compile(r"[A-Za-z0-9_-]{22}")


@pytest.fixture
def url(uncached_svc: tuple[str, Process]) -> str:
    return uncached_svc[0]


def say(url: str, message: str, conversation_id: str | None = None, key: str = API_KEY) -> dict[str, Any]:
    response = post_chat(url, key, message, conversation_id=conversation_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sent_turns(upstream: str) -> list[tuple[str, str]]:
    """The last request's messages at the fake, system message left out."""
    messages = upstream_requests(upstream)[-1]["body"]["messages"]
    assert messages[0]["role"] == "system"
    return [(m["role"], m["content"]) for m in messages[1:]]


def conversation(url: str, conversation_id: str, key: str = API_KEY) -> httpx.Response:
    return httpx.get(f"{url}/conversations/{conversation_id}", headers={"x-api-key": key})


def test_earlier_turns_reach_the_model_oldest_first_trimmed_to_max_turns(url: str, upstream: str) -> None:
    reset_fake(upstream)
    first = say(url, "un")
    cid = first["conversation_id"]
    assert NEW_ID.fullmatch(cid)
    for word in ("deux", "trois", "quatre"):
        assert say(url, word, cid)["conversation_id"] == cid
    assert sent_turns(upstream) == [  # CONVERSATION_MAX_TURNS=2: the first turn is gone
        ("user", "deux"),
        ("assistant", "Echo: deux"),
        ("user", "trois"),
        ("assistant", "Echo: trois"),
        ("user", "quatre"),
    ]
    third = upstream_requests(upstream)[2]["body"]["messages"][1:]
    assert [m["content"] for m in third] == ["un", "Echo: un", "deux", "Echo: deux", "trois"]
    assert conversation(url, cid).json() == {
        "conversation_id": cid,
        "messages": [
            {"role": "user", "content": "trois"},
            {"role": "assistant", "content": "Echo: trois"},
            {"role": "user", "content": "quatre"},
            {"role": "assistant", "content": "Echo: quatre"},
        ],
    }


def test_a_missing_or_unknown_id_starts_a_new_unguessable_conversation(url: str, upstream: str) -> None:
    reset_fake(upstream)
    ids = {say(url, "bonjour")["conversation_id"] for _ in range(3)}
    unknown = "A" * 22
    given = say(url, "bonjour", unknown)["conversation_id"]
    malformed = say(url, "bonjour", "../../etc/passwd")["conversation_id"]
    assert len(ids | {given, malformed}) == 5
    assert all(NEW_ID.fullmatch(i) for i in ids | {given, malformed})
    assert sent_turns(upstream) == [("user", "bonjour")]


def test_each_message_pushes_the_expiry_back_and_an_expired_one_starts_anew(
    url: str, upstream: str, redis: RedisServer
) -> None:
    cid = say(url, "premier")["conversation_id"]
    keys = (f"conv:{{{cid}}}",)  # one key per conversation (chatbot/state/conversations.py)
    for key in keys:
        assert TTL - 5 <= int(redis.command("TTL", key)) <= TTL
        redis.command("EXPIRE", key, "30")
    say(url, "second", cid)
    for key in keys:
        assert TTL - 5 <= int(redis.command("TTL", key)) <= TTL, key
    redis.command("DEL", *keys)  # what expiry does
    reset_fake(upstream)
    restarted = say(url, "troisième", cid)["conversation_id"]
    assert restarted != cid
    assert sent_turns(upstream) == [("user", "troisième")]


def test_a_conversation_belongs_to_the_key_that_started_it(url: str, upstream: str) -> None:
    cid = say(url, "secret de la cliente", key=API_KEY)["conversation_id"]
    reset_fake(upstream)
    other = say(url, "montre-moi la suite", cid, key=OLD_KEY)["conversation_id"]
    assert other != cid
    assert sent_turns(upstream) == [("user", "montre-moi la suite")]  # nothing of the owner's turns
    assert conversation(url, cid, key=OLD_KEY).status_code == 404
    forget = httpx.delete(f"{url}/conversations/{cid}", headers={"x-api-key": OLD_KEY})
    assert forget.status_code == 404
    assert forget.json() == {"error": "Conversation introuvable."}
    assert len(conversation(url, cid).json()["messages"]) == 2  # untouched for its owner


def test_its_owner_reads_and_forgets_it(url: str) -> None:
    cid = say(url, "Bonjour")["conversation_id"]
    response = conversation(url, cid)
    assert response.status_code == 200
    assert response.json() == {
        "conversation_id": cid,
        "messages": [
            {"role": "user", "content": "Bonjour"},
            {"role": "assistant", "content": "Echo: Bonjour"},
        ],
    }
    for method in ("GET", "DELETE"):
        anonymous = httpx.request(method, f"{url}/conversations/{cid}")
        assert anonymous.status_code == 401, method
        assert anonymous.json() == {"error": "Clé API invalide ou manquante."}
    forget = httpx.delete(f"{url}/conversations/{cid}", headers={"x-api-key": API_KEY})
    assert forget.status_code == 204
    assert forget.content == b""
    assert conversation(url, cid).status_code == 404
    assert httpx.delete(f"{url}/conversations/{cid}", headers={"x-api-key": API_KEY}).status_code == 404


def test_a_short_follow_up_is_grounded_in_the_topic_being_discussed(url: str, upstream: str) -> None:
    reset_fake(upstream)
    say(url, "et le prix ?")
    alone = upstream_requests(upstream)[-1]["body"]["messages"][0]["content"]
    assert "### Livrez-vous à domicile ?" not in alone  # on its own, the question says nothing of delivery
    cid = say(url, "Livrez-vous à domicile ?")["conversation_id"]
    reply = say(url, "et le prix ?", cid)
    system = upstream_requests(upstream)[-1]["body"]["messages"][0]["content"]
    assert "### Livrez-vous à domicile ?" in system
    assert "gratuite" in system
    assert reply["sources"][0] == "Livrez-vous à domicile ?"


def test_offline_mode_answers_and_keeps_conversations_too(offline_svc: tuple[str, Process]) -> None:
    url = offline_svc[0]
    first = say(url, "Livrez-vous à domicile ?")
    assert first["sources"] == ["Livrez-vous à domicile ?"]
    cid = first["conversation_id"]
    second = say(url, "Quels sont vos horaires d'ouverture ?", cid)
    assert second["conversation_id"] == cid
    messages = conversation(url, cid).json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "Livrez-vous à domicile ?"
    assert messages[1]["content"] == first["reply"]
    assert messages[3]["content"] == second["reply"]
