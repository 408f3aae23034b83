"""The shipper's positions on disk: one small JSON file, replaced atomically, so that a restart (or a kill at
any moment) resumes where the last delivered batch ended."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from chatbot.shipper.tail import Position

log = logging.getLogger("chatbot.shipper")


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Position | None]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {name: None if p is None else Position.from_json(p) for name, p in data.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            # Starting over re-ships what the files hold (duplicates share their insertId); refusing to start
            # would ship nothing at all.
            name = type(error).__name__
            log.error("%s unreadable (%s): shipping the logs from their start", self.path, name)
            return {}

    def save(self, positions: dict[str, Position | None]) -> None:
        data = {name: None if p is None else p.to_json() for name, p in positions.items()}
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        # The rename itself must reach the disk too, or a power cut could bring back the older file.
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
