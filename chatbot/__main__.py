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
from chatbot.faq import FaqError, load_faq
from chatbot.logs import configure_logging
from chatbot.metrics import prepare_directory

log = logging.getLogger("chatbot")
LISTEN_BACKLOG = 4096


def _mode(settings: Settings, faq_entries: int | None) -> str:
    faq = "no FAQ_FILE" if faq_entries is None else f"FAQ {settings.faq_file} ({faq_entries} entries)"
    if settings.provider is Provider.OPENAI:
        grounding = "ungrounded" if faq_entries is None else "grounded in the FAQ"
        return f"openai mode: model {settings.openai_model} at {settings.openai_base_url}, {grounding}; {faq}"
    return f"faq mode: answers from the FAQ alone, no model; {faq}"


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"chatbot: configuration error: {error}", file=sys.stderr)
        return 2
    faq_entries = None
    if settings.faq_file is not None:
        try:
            # Checked once here so that a bad file stops the start; each worker then builds its own index.
            faq_entries = len(load_faq(settings.faq_file))
        except FaqError as error:
            print(f"chatbot: FAQ_FILE: {error}", file=sys.stderr)
            return 2
    configure_logging(settings)
    log.info(
        "chatbot-mvp %s starting in %s; %d worker(s) on %s:%d",
        __version__,
        _mode(settings, faq_entries),
        settings.workers,
        settings.host,
        settings.port,
        extra={"provider": settings.provider.value, "workers": settings.workers},
    )
    if settings.metrics:
        # Before any worker starts: they inherit where to write their values (chatbot/metrics.py).
        prepare_directory()
    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        motd=False,
        # Sanic's default (100) overflows when a thousand streams open at once through Nginx; the kernel caps
        # it at net.core.somaxconn (4096 on current kernels).
        backlog=LISTEN_BACKLOG,
    )
    Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
