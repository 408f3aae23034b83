"""`python -m chatbot`: validate settings, then serve with the configured number of workers."""

from __future__ import annotations

import logging
import sys
from functools import partial

from sanic import Sanic
from sanic.worker.loader import AppLoader

from chatbot import __version__
from chatbot.app import create_app
from chatbot.config import ConfigError, Provider, Settings, load_settings
from chatbot.logs import configure_logging

log = logging.getLogger("chatbot")


def _mode(settings: Settings) -> str:
    if settings.provider is Provider.OPENAI:
        return f"openai mode: model {settings.openai_model} at {settings.openai_base_url}"
    return "faq mode: answers from the FAQ alone (no OPENAI_API_KEY)"


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"chatbot: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    log.info(
        "chatbot-mvp %s starting in %s; %d worker(s) on %s:%d",
        __version__,
        _mode(settings),
        settings.workers,
        settings.host,
        settings.port,
        extra={"provider": settings.provider.value, "workers": settings.workers},
    )
    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    app.prepare(
        host=settings.host, port=settings.port, workers=settings.workers, access_log=False, motd=False
    )
    Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
