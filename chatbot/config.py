"""Settings: one typed object read from the environment (and `.env` when present), validated at start."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The model sent upstream when OPENAI_MODEL is unset: OpenAI's low-cost chat model that still accepts the
#: guide's `max_tokens` and `temperature` parameters.
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_MARK = "!!!"


class CloudLogging(StrEnum):
    AUTO = "auto"
    TRUE = "true"
    FALSE = "false"


class OpenAIClient(StrEnum):
    """How the upstream call is made: a lean aiohttp POST (default) or the openai SDK."""

    HTTP = "http"
    SDK = "sdk"


class Provider(StrEnum):
    OPENAI = "openai"
    FAQ = "faq"


def _default_workers() -> int:
    # sched_getaffinity honours CPU pinning in containers, where cpu_count() reports the host's cores.
    return max(1, len(os.sched_getaffinity(0)))


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Every setting of the service; names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    workers: Annotated[int, Field(ge=1, le=64)] = Field(default_factory=_default_workers)

    api_key: str
    openai_api_key: str = Field(default="", repr=False)
    openai_base_url: str = DEFAULT_BASE_URL
    openai_model: str = DEFAULT_MODEL
    openai_max_tokens: Annotated[int, Field(ge=1, le=128_000)] = 150
    openai_temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    openai_timeout: Annotated[float, Field(gt=0, le=600)] = 30
    openai_max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    openai_client: OpenAIClient = OpenAIClient.HTTP
    llm_provider: Provider | None = None
    system_prompt: str = ""

    max_message_chars: Annotated[int, Field(ge=1, le=1_000_000)] = 4000
    max_body_bytes: Annotated[int, Field(ge=1024, le=100 * 1024 * 1024)] = 64 * 1024
    proxies_count: Annotated[int, Field(ge=0, le=10)] = 0
    cors_origins: str = ""

    faq_file: Path | None = None
    faq_top_k: Annotated[int, Field(ge=1, le=20)] = 3
    faq_min_score: Annotated[float, Field(ge=0, le=1)] = 0.25
    faq_fallback: str = ""
    faq_reload_seconds: Annotated[float, Field(gt=0, le=3600)] = 2

    log_level: str = "INFO"
    log_chat_content: bool = False
    google_cloud_logging: CloudLogging = CloudLogging.AUTO
    google_cloud_project: str = ""
    cloud_logging_endpoint: str = ""
    log_name: str = "chatbot-mvp"

    @field_validator("api_key")
    @classmethod
    def _api_keys_present(cls, value: str) -> str:
        keys = [k.strip() for k in value.split(",") if k.strip()]
        if not keys:
            raise ValueError("must list at least one key")
        if any(PLACEHOLDER_MARK in k for k in keys):
            raise ValueError("still holds the placeholder from .env.example; set a real key")
        return value

    @field_validator("openai_api_key")
    @classmethod
    def _no_placeholder(cls, value: str) -> str:
        if PLACEHOLDER_MARK in value:
            raise ValueError(
                "still holds the placeholder from .env.example; set a real key or leave it empty"
            )
        return value.strip()

    @field_validator("openai_base_url", "cloud_logging_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @model_validator(mode="after")
    def _provider_has_key(self) -> Self:
        if self.llm_provider is Provider.OPENAI and not self.openai_api_key:
            raise ValueError("OPENAI_API_KEY: required when LLM_PROVIDER=openai")
        return self

    @property
    def api_keys(self) -> tuple[str, ...]:
        """Every accepted client key (comma-separated list: rotation keeps old and new valid)."""
        return tuple(k.strip() for k in self.api_key.split(",") if k.strip())

    @property
    def provider(self) -> Provider:
        """Where replies come from: the model when a key exists, else the FAQ alone."""
        if self.llm_provider is not None:
            return self.llm_provider
        return Provider.OPENAI if self.openai_api_key else Provider.FAQ

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:
        return f"invalid configuration: {message}"
    name = str(first["loc"][0]).upper()
    if first["type"] == "missing":
        return f"{name}: required but not set"
    return f"{name}: {message} (got {_shown(name, first.get('input'))})"


def _shown(name: str, value: object) -> str:
    # A malformed secret must not end up in a terminal or a log: name it, never print it.
    if "KEY" in name:
        return "a hidden value"
    return repr(value)


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Read and validate settings; raises ConfigError with one line naming the variable."""
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
