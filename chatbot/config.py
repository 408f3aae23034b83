"""Settings: one typed object read from the environment (and `.env` when present), validated at start."""

from __future__ import annotations

import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NamedTuple, Self, TypeVar, overload

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The model sent upstream when OPENAI_MODEL is unset: OpenAI's low-cost chat model that still accepts the
#: guide's `max_tokens` and `temperature` parameters.
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_MARK = "!!!"
#: Sanic cannot read a request head (request line and headers) larger than this; Nginx gets the same number.
MAX_HEADER_CEILING = 16_384
_RATE = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day)\s*")
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


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


class Rate(NamedTuple):
    """A rate limit in the `N/second|minute|hour|day` notation; `off` is None in settings."""

    amount: int
    period: str

    @property
    def seconds(self) -> int:
        return _PERIODS[self.period]

    def __str__(self) -> str:
        return f"{self.amount}/{self.period}"


def parse_rate(value: object) -> Rate | None:
    """`600/minute` -> Rate(600, "minute"); `off` -> None; anything else -> ValueError."""
    if value is None or isinstance(value, Rate):
        return value
    text = str(value).strip().lower()
    if text == "off":
        return None
    match = _RATE.fullmatch(text)
    if not match or int(match[1]) < 1:
        raise ValueError("must be N/second, N/minute, N/hour or N/day with N >= 1, or off")
    return Rate(int(match[1]), match[2])


def _comma_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _http_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


class LoggingSettings(BaseSettings):
    """How logs are written and shipped: the service's settings for it, and all the edge log shipper reads
    (`python -m chatbot.shipper`, which holds no key)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    log_level: str = "INFO"
    google_cloud_logging: CloudLogging = CloudLogging.AUTO
    google_cloud_project: str = ""
    cloud_logging_endpoint: str = ""
    log_name: str = "chatbot-mvp"

    @field_validator("cloud_logging_endpoint")
    @classmethod
    def _endpoint_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level


class Settings(LoggingSettings):
    """Every setting of the service; names are the environment variables, upper-cased."""

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
    max_header_bytes: Annotated[int, Field(ge=1024, le=MAX_HEADER_CEILING)] = MAX_HEADER_CEILING
    proxies_count: Annotated[int, Field(ge=0, le=10)] = 0
    cors_origins: str = ""

    redis_url: str = Field(default="", repr=False)
    conversation_max_turns: Annotated[int, Field(ge=0, le=100)] = 10
    conversation_max_chars: Annotated[int, Field(ge=500, le=1_000_000)] = 12_000
    conversation_ttl: Annotated[int, Field(ge=60, le=30 * 86400)] = 1800
    rate_limit_per_key: Rate | None = Rate(600, "minute")
    rate_limit_per_ip: Rate | None = Rate(30, "minute")
    rate_limit_per_visitor: Rate | None = Rate(20, "minute")
    rate_limit_widget_session: Rate | None = Rate(10, "minute")
    daily_token_budget: Annotated[int, Field(ge=0)] = 0
    cache_ttl: Annotated[int, Field(ge=0, le=30 * 86400)] = 3600

    widget_key: str = ""
    widget_origins: str = ""
    widget_secret: str = Field(default="", repr=False)
    widget_token_ttl: Annotated[int, Field(ge=60, le=86400)] = 3600

    faq_file: Path | None = None
    faq_top_k: Annotated[int, Field(ge=1, le=20)] = 3
    faq_min_score: Annotated[float, Field(ge=0, le=1)] = 0.25
    faq_fallback: str = ""
    faq_reload_seconds: Annotated[float, Field(gt=0, le=3600)] = 2
    faq_required: bool = False
    faq_gaps: bool = False
    faq_gaps_days: Annotated[int, Field(ge=1, le=365)] = 30

    metrics: bool = True
    shutdown_grace_seconds: Annotated[float, Field(ge=0, le=3600)] = 60
    stream_ping_seconds: Annotated[float, Field(gt=0, le=300)] = 15

    log_chat_content: bool = False

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

    @field_validator(
        "rate_limit_per_key",
        "rate_limit_per_ip",
        "rate_limit_per_visitor",
        "rate_limit_widget_session",
        mode="before",
    )
    @classmethod
    def _rate(cls, value: object) -> Rate | None:
        return parse_rate(value)

    @field_validator("widget_key")
    @classmethod
    def _publishable(cls, value: str) -> str:
        keys = _comma_list(value)
        if any(PLACEHOLDER_MARK in k for k in keys):
            raise ValueError(
                "still holds the placeholder from .env.example; set a real key or leave it empty"
            )
        if any(not k.startswith("pk_") or len(k) < 16 for k in keys):
            raise ValueError("publishable keys start with pk_ and are at least 16 characters long")
        return value

    @field_validator("widget_origins", "cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _comma_list(value):
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin.rstrip("/")):
                raise ValueError(
                    f"{origin!r} is not an origin like https://shop.example (scheme and host only)"
                )
        return value

    @field_validator("openai_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _provider_has_key(self) -> Self:
        if self.llm_provider is Provider.OPENAI and not self.openai_api_key:
            raise ValueError("OPENAI_API_KEY: required when LLM_PROVIDER=openai")
        if self.widget_key and not self.widget_origins:
            raise ValueError("WIDGET_ORIGINS: required when WIDGET_KEY is set (the sites allowed to use it)")
        if self.widget_key and "*" in self.widget_origin_list:
            raise ValueError("WIDGET_ORIGINS: list the sites' exact origins; * is not allowed")
        return self

    @property
    def api_keys(self) -> tuple[str, ...]:
        """Every accepted client key (comma-separated list: rotation keeps old and new valid)."""
        return _comma_list(self.api_key)

    @property
    def widget_keys(self) -> tuple[str, ...]:
        """Every accepted publishable key (pk_...), a comma-separated list like API_KEY."""
        return _comma_list(self.widget_key)

    @property
    def widget_origin_list(self) -> tuple[str, ...]:
        return tuple(o.rstrip("/") for o in _comma_list(self.widget_origins))

    @property
    def provider(self) -> Provider:
        """Where replies come from: the model when a key exists, else the FAQ alone."""
        if self.llm_provider is not None:
            return self.llm_provider
        return Provider.OPENAI if self.openai_api_key else Provider.FAQ

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return tuple(o.rstrip("/") for o in _comma_list(self.cors_origins))


S = TypeVar("S", bound=LoggingSettings)

#: Settings whose values are never printed, even malformed (REDIS_URL may hold a password).
_SECRET_SETTINGS = frozenset({"API_KEY", "OPENAI_API_KEY", "WIDGET_KEY", "WIDGET_SECRET", "REDIS_URL"})


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
    if name in _SECRET_SETTINGS:
        return "a hidden value"
    return repr(value)


@overload
def load_settings(env_file: str | Path | None = ...) -> Settings: ...
@overload
def load_settings(env_file: str | Path | None = ..., *, kind: type[S]) -> S: ...
def load_settings(
    env_file: str | Path | None = ".env", *, kind: type[LoggingSettings] = Settings
) -> LoggingSettings:
    """Read and validate settings (the service's, or another `kind` such as the shipper's); raises ConfigError
    with one line naming the variable."""
    try:
        return kind(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
