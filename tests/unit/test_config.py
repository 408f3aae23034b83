from __future__ import annotations

import os
from pathlib import Path

import pytest

from chatbot.config import ConfigError, OpenAIClient, Provider, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "API_KEY", "LLM_", "PORT", "WORKERS", "CORS_", "LOG_", "GOOGLE_")):
            monkeypatch.delenv(name)


def test_defaults_match_the_documented_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k")
    s = load_settings(None)
    assert (s.host, s.port) == ("0.0.0.0", 3000)
    assert s.workers >= 1
    assert s.openai_base_url == "https://api.openai.com/v1"
    assert s.openai_model == "gpt-4o-mini"
    assert (s.openai_max_tokens, s.openai_temperature) == (150, 0.7)
    assert (s.openai_timeout, s.openai_max_retries) == (30, 2)
    assert s.openai_client is OpenAIClient.HTTP
    assert (s.max_message_chars, s.max_body_bytes) == (4000, 65536)
    assert (s.log_level, s.log_chat_content, s.log_name) == ("INFO", False, "chatbot-mvp")
    assert s.google_cloud_logging.value == "auto"
    assert s.system_prompt == ""


def test_key_list_allows_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", " new-key , old-key ,")
    assert load_settings(None).api_keys == ("new-key", "old-key")


def test_provider_follows_the_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k")
    assert load_settings(None).provider is Provider.FAQ
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert load_settings(None).provider is Provider.OPENAI
    monkeypatch.setenv("LLM_PROVIDER", "faq")
    assert load_settings(None).provider is Provider.FAQ


def test_dotenv_is_read_when_present_and_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("API_KEY=from-file\nPORT=4000\n")
    assert load_settings(env_file).api_keys == ("from-file",)
    monkeypatch.setenv("PORT", "5000")
    assert load_settings(env_file).port == 5000


def test_missing_dotenv_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k")
    assert load_settings(tmp_path / "absent.env").port == 3000


def test_errors_are_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k")
    monkeypatch.setenv("OPENAI_MAX_TOKENS", "lots")
    with pytest.raises(ConfigError) as error:
        load_settings(None)
    assert str(error.value).startswith("OPENAI_MAX_TOKENS: ")
    assert "\n" not in str(error.value)


def test_settings_repr_hides_the_upstream_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    assert "sk-secret-value" not in repr(load_settings(None))


def test_cors_origins_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "k")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example/, https://b.example")
    assert load_settings(None).cors_origin_list == ("https://a.example", "https://b.example")
