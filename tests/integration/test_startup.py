"""A missing or malformed setting stops the start: exit code != 0, one line naming the variable."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import pytest

from tests.processes import base_env


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot"],
        env={**base_env(), **env},
        cwd=tempfile.mkdtemp(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "API_KEY: required but not set"),
        ({"API_KEY": ""}, "API_KEY: required but not set"),
        ({"API_KEY": " , "}, "API_KEY: must list at least one key"),
        ({"API_KEY": "!!!SET API_KEY!!!"}, "API_KEY: still holds the placeholder"),
        ({"API_KEY": "k", "PORT": "http"}, "PORT: "),
        ({"API_KEY": "k", "PORT": "70000"}, "PORT: "),
        ({"API_KEY": "k", "WORKERS": "0"}, "WORKERS: "),
        ({"API_KEY": "k", "OPENAI_TEMPERATURE": "hot"}, "OPENAI_TEMPERATURE: "),
        ({"API_KEY": "k", "OPENAI_TIMEOUT": "-1"}, "OPENAI_TIMEOUT: "),
        ({"API_KEY": "k", "OPENAI_BASE_URL": "api.openai.com"}, "OPENAI_BASE_URL: must be an http"),
        ({"API_KEY": "k", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL: "),
        ({"API_KEY": "k", "LOG_CHAT_CONTENT": "maybe"}, "LOG_CHAT_CONTENT: "),
        ({"API_KEY": "k", "GOOGLE_CLOUD_LOGGING": "sometimes"}, "GOOGLE_CLOUD_LOGGING: "),
        ({"API_KEY": "k", "LLM_PROVIDER": "openai"}, "OPENAI_API_KEY: required when LLM_PROVIDER=openai"),
    ],
)
def test_bad_settings_stop_the_start_with_one_line(env: dict[str, str], named: str) -> None:
    result = start(env)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr


def test_a_malformed_secret_is_named_never_printed() -> None:
    result = start({"API_KEY": "k", "OPENAI_API_KEY": "sk-!!!real-looking-secret"})
    assert result.returncode != 0
    assert "OPENAI_API_KEY" in result.stderr
    assert "real-looking-secret" not in result.stderr
