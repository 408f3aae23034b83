"""`python -m chatbot.shipper`: ship Nginx's logs to Cloud Logging until SIGTERM; idle when it is off."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from chatbot.config import ConfigError, load_settings
from chatbot.logs import cloud_target, configure_logging
from chatbot.shipper.ship import Shipper, ShipperSettings
from chatbot.shipper.sink import CloudSink

log = logging.getLogger("chatbot.shipper")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def main() -> int:
    try:
        settings = load_settings(kind=ShipperSettings)
    except ConfigError as error:
        print(f"chatbot.shipper: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    stop = _stop_on_signals()
    target = cloud_target(settings)
    if target is None:
        # Same rule as the service (chatbot/logs.py). Staying up, idle, keeps `restart: unless-stopped` from
        # starting it again and again; Nginx's files rotate by themselves meanwhile.
        log.info("edge logs not shipped (Cloud Logging is off); idle")
        while not stop.wait(10):
            settings.shipper_heartbeat_file.touch()
        return 0
    sink = CloudSink(target, settings.log_name)
    shipper = Shipper(settings, sink)
    try:
        shipper.save()
    except OSError as error:
        folder = settings.shipper_state_dir
        print(f"chatbot.shipper: {folder}: cannot record positions ({error})", file=sys.stderr)
        return 2
    log.info(
        "shipping %s/{access,error}.log to Cloud Logging: log %s, project %s",
        settings.edge_log_dir,
        settings.log_name,
        sink.project,
    )
    shipper.run(stop)
    log.info("stopped after shipping %d entries", shipper.shipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
