"""Redis restarted under a conversation: no chat fails, and the conversation goes on with its history
(append-only persistence)."""

from __future__ import annotations

import threading
import time

import httpx

from tests.e2e.conftest import Stack


def test_a_chat_series_survives_a_redis_restart(stack: Stack, fake_openai: httpx.Client) -> None:
    statuses: list[int] = []
    stop = threading.Event()
    conversation: dict[str, str] = {}

    def chat_series() -> None:
        with stack.client() as client:
            number = 0
            while not stop.is_set():
                body = {"message": f"message {number}", **conversation}
                response = client.post("/chat", json=body, headers={"x-api-key": stack.api_key})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    conversation["conversation_id"] = response.json()["conversation_id"]
                number += 1
                time.sleep(0.2)

    key = {"x-api-key": stack.api_key}
    with stack.client() as client:
        before = client.post("/chat", json={"message": "avant le redémarrage"}, headers=key).json()
    series = threading.Thread(target=chat_series)
    series.start()
    try:
        time.sleep(1.5)
        stack.compose("restart", "redis", timeout=120)
        stack.wait_healthy()
        time.sleep(2)  # the chatbot notices Redis is back within its probe interval (1 s)
    finally:
        stop.set()
        series.join(30)
    assert statuses, "no chat was sent"
    assert set(statuses) == {200}, statuses
    with stack.client() as client:
        ready = client.get("/readyz").json()
        assert ready["redis"] == "ok"
        body = {"message": "et après ?", "conversation_id": before["conversation_id"]}
        after = client.post("/chat", json=body, headers=key)
    assert after.json()["conversation_id"] == before["conversation_id"]
    # The model got the turn from before the restart: it was kept on disk.
    sent = fake_openai.get("/_fake/requests").json()[-1]["body"]["messages"]
    assert {"role": "user", "content": "avant le redémarrage"} in sent
    warnings = stack.wait_for_log(
        "chatbot", lambda r: r.get("logger") == "chatbot.redis" and r["severity"] == "WARNING"
    )
    assert warnings, "Redis going away is said once (per worker)"
    replicas = len(stack.compose("ps", "-q", "chatbot").stdout.split())
    assert len(warnings) <= int(stack.settings["WORKERS"]) * replicas
