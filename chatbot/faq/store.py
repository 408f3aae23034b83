"""Hot reload: hold the current FAQ index and rebuild it when the file changes on disk."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from chatbot.faq.index import FaqIndex
from chatbot.faq.parse import FaqError, load_faq

logger = logging.getLogger("chatbot.faq")

# Inode and device change when an editor saves by writing a new file and renaming it over the old one.
_Signature = tuple[int, int, int, int]


def _signature(path: Path) -> _Signature:
    stat = os.stat(path)
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


class FaqStore:
    """The FAQ of one file, reloaded when it changes: a cheap `stat` at most every `check_interval` seconds.

    The first load raises FaqError; later broken edits are logged at ERROR level and the last good version
    stays in use. A reload runs in the caller's thread (about 0.2 ms per entry); to keep a large FAQ's
    rebuild off the event loop, call `refresh` in a thread and read `index`. Mount the file's folder, not
    the file, in Docker: a single-file bind mount keeps its first inode and never sees a save-by-rename.
    """

    def __init__(
        self,
        path: Path,
        *,
        check_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._interval = check_interval
        self._clock = clock
        signature = self._stat_or_raise()
        self._index = FaqIndex.build(load_faq(path))
        self._seen = signature
        self._checked = clock()
        self._last_error: str | None = None

    def _stat_or_raise(self) -> _Signature:
        try:
            return _signature(self.path)
        except OSError as error:
            raise FaqError(f"{self.path}: cannot read the FAQ file: {error.strerror or error}") from error

    @property
    def index(self) -> FaqIndex:
        """The index loaded last, without looking at the file (for /readyz, or a caller refreshing apart)."""
        return self._index

    def current(self) -> FaqIndex:
        """The index to search now, after reloading the file if it changed and the interval has passed."""
        now = self._clock()
        if now - self._checked >= self._interval:
            self._checked = now
            self.refresh()
        return self._index

    def refresh(self) -> bool:
        """Reload now if the file changed; True when a new version was loaded."""
        signature: _Signature | None = None
        try:
            signature = self._stat_or_raise()
            if signature == self._seen:
                return False
            entries = load_faq(self.path)
            # A file still being written in place changes under us: take it at the next check instead.
            if self._stat_or_raise() != signature:
                return False
            index = FaqIndex.build(entries)
        except FaqError as error:
            if signature is not None:
                self._seen = signature  # parse a broken version once, not at every check
            if str(error) != self._last_error:
                self._last_error = str(error)
                logger.error("FAQ kept at its last good version (%d entries): %s", len(self._index), error)
            return False
        self._index, self._seen, self._last_error = index, signature, None
        logger.info("FAQ reloaded from %s: %d entries", self.path, len(index))
        return True
