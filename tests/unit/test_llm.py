from __future__ import annotations

from typing import Any

import pytest

from chatbot.config import Settings
from chatbot.llm import Fault, UpstreamError, completion_params, parse_completion
from chatbot.llm.base import clean_text, retry_wait


def settings(**values: Any) -> Settings:
    return Settings(api_key="k", _env_file=None, **values)  # type: ignore[call-arg]


def test_parse_completion_trims_the_reply() -> None:
    payload = {
        "model": "m",
        "choices": [{"message": {"content": "\n  Bonjour !  \n"}}],
        "usage": {"total_tokens": 3},
    }
    completion = parse_completion(payload)
    assert completion.text == "Bonjour !"
    assert completion.usage == {"total_tokens": 3}


def test_a_refusal_is_an_answer() -> None:
    payload = {"choices": [{"message": {"content": None, "refusal": "I can't help with that."}}]}
    assert parse_completion(payload).text == "I can't help with that."


@pytest.mark.parametrize(
    "payload",
    [None, [], {}, {"choices": []}, {"choices": [{}]}, {"choices": [{"message": {"content": 3}}]}, "text"],
)
def test_anything_else_is_a_bad_response(payload: object) -> None:
    with pytest.raises(UpstreamError) as error:
        parse_completion(payload)
    assert error.value.fault is Fault.BAD_RESPONSE


def test_chat_models_get_the_guides_parameters() -> None:
    assert completion_params(settings(openai_model="gpt-4o-mini")) == {"max_tokens": 150, "temperature": 0.7}


def test_reasoning_models_get_max_completion_tokens_only() -> None:
    assert completion_params(settings(openai_model="gpt-5-mini", openai_max_tokens=99)) == {
        "max_completion_tokens": 99
    }


def test_fault_statuses() -> None:
    assert [f.status for f in Fault] == [502, 502, 502, 503, 504]


def test_retry_policy() -> None:
    wait = retry_wait
    retryable = UpstreamError(Fault.UNAVAILABLE, "x", retryable=True)
    assert wait(UpstreamError(Fault.BAD_RESPONSE, "x"), 0, 2) is None
    assert 0.3 <= (wait(retryable, 0, 2) or 0) <= 0.5
    assert 0.7 <= (wait(retryable, 1, 2) or 0) <= 1.0
    assert wait(retryable, 2, 2) is None
    assert wait(UpstreamError(Fault.RATE_LIMITED, "x", retry_after=2, retryable=True), 0, 2) == 2
    # Longer than a visitor should wait: answer 503 now, with the upstream's Retry-After.
    assert wait(UpstreamError(Fault.RATE_LIMITED, "x", retry_after=30, retryable=True), 0, 2) is None


def test_a_reply_holding_lone_surrogates_is_made_valid_text() -> None:
    payload = {"choices": [{"message": {"content": "ok \ud800 fin"}}]}
    text = parse_completion(payload).text
    assert text.encode("utf-8") == "ok \ufffd fin".encode()
    assert clean_text("déjà vu") == "déjà vu"
