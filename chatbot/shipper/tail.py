"""Following a log file that is rotated by renaming (`access.log` -> `access.log.1`, then a reopen), from a
position that survives restarts: the file's identity (inode and a digest of its first bytes, since inodes are
reused) and the offset of the first byte not yet shipped.

Reading never moves the position: the caller advances it once the lines are safely delivered, so a crash
between the two re-reads them (at least once, never lost while the file still exists).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("chatbot.shipper")

#: Bytes of a file's start that identify it (an Nginx line starts with its timestamp and request id).
HEAD_BYTES = 256
#: Read at most this much per call; a line longer than this (Nginx writes none) is cut there.
READ_BYTES = 1 << 20


@dataclass(frozen=True)
class Position:
    """Where shipping of one log stands: which file, and the offset of the next line in it."""

    inode: int
    head: str  # sha256 of the file's first `head_len` bytes
    head_len: int
    offset: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        return cls(int(data["inode"]), str(data["head"]), int(data["head_len"]), int(data["offset"]))


@dataclass(frozen=True)
class Line:
    """One complete line, and a stable id for it (the same line read twice gets the same id)."""

    text: str
    line_id: str


@dataclass(frozen=True)
class Chunk:
    """Lines read from a position, and the position just after them."""

    lines: list[Line]
    end: Position | None


def _digest(f: BinaryIO, length: int) -> str:
    f.seek(0)
    return hashlib.sha256(f.read(length)).hexdigest()


def _identity(f: BinaryIO, size: int) -> Position | None:
    """A position at the start of an open file, or None while it is empty."""
    head_len = min(size, HEAD_BYTES)
    if head_len == 0:
        return None
    return Position(os.fstat(f.fileno()).st_ino, _digest(f, head_len), head_len, 0)


def _is(f: BinaryIO, position: Position) -> bool:
    stat = os.fstat(f.fileno())
    return (
        stat.st_ino == position.inode
        and stat.st_size >= position.head_len
        and _digest(f, position.head_len) == position.head
    )


class LogTail:
    """One log (`path`) and its rotated predecessor (`path.1`)."""

    def __init__(self, path: Path, position: Position | None, *, settle_s: float = 2.0) -> None:
        self.path = path
        self.rotated = path.with_name(path.name + ".1")
        self.position = position
        # A renamed file may still get lines until Nginx reopens its logs (milliseconds); it is finished only
        # once it has been quiet for this long.
        self._settle_s = settle_s

    def read(self, max_lines: int) -> Chunk:
        """Up to `max_lines` complete lines from the current position; `self.position` is left as it was."""
        position = self.position
        for _ in range(3):  # at most: the rotated file's end, then the current file's start
            chunk, moved_to = self._read_from(position, max_lines)
            if chunk is not None:
                return chunk
            position = moved_to
        return Chunk([], position)

    def advance(self, position: Position | None) -> None:
        self.position = position

    def _read_from(self, position: Position | None, max_lines: int) -> tuple[Chunk | None, Position | None]:
        """(lines, None) when there is something to say; (None, new position) to try again from there."""
        current = _open(self.path)
        rotated = _open(self.rotated)
        try:
            if position is None:
                # Nothing shipped yet (or the previous file is done): the current file from its start.
                start = self._start_of(current)
                if current is None or start is None:
                    return Chunk([], None), None
                return _lines(current, start, max_lines), None
            if current is not None and _is(current, position):
                return _lines(current, position, max_lines), None
            if rotated is not None and _is(rotated, position):
                chunk = _lines(rotated, position, max_lines)
                if chunk.lines or not self._settled(rotated):
                    return chunk, None
                # The rotated file is done: go on with the current one, from its start.
                return None, self._start_of(current)
            # Neither: both were rotated away while we were not reading (or a file was replaced).
            log.warning(
                "%s: the file being shipped is gone (rotated twice while the shipper was behind or down); "
                "its unshipped lines are lost, going on with %s",
                self.path.name,
                self.rotated.name if rotated is not None else self.path.name,
            )
            return None, self._start_of(rotated if rotated is not None else current)
        finally:
            for f in (current, rotated):
                if f is not None:
                    f.close()

    def _settled(self, f: BinaryIO) -> bool:
        # ctime: the rename itself counts, so an old file renamed a moment ago is not taken for a quiet one.
        stat = os.fstat(f.fileno())
        return time.time() - max(stat.st_mtime, stat.st_ctime) >= self._settle_s

    def _start_of(self, f: BinaryIO | None) -> Position | None:
        return None if f is None else _identity(f, os.fstat(f.fileno()).st_size)


def _open(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def _lines(f: BinaryIO, position: Position, max_lines: int) -> Chunk:
    size = os.fstat(f.fileno()).st_size
    offset = position.offset
    if size < offset:
        log.warning("log truncated under the shipper (offset %d, size %d): reading it again", offset, size)
        offset = 0
    f.seek(offset)
    data = f.read(READ_BYTES)
    end = data.rfind(b"\n") + 1
    if end == 0 and len(data) == READ_BYTES:
        end = len(data)  # one line longer than a read: shipped cut rather than blocking the log forever
    lines: list[Line] = []
    start = 0
    while start < end and len(lines) < max_lines:
        stop = data.find(b"\n", start, end)
        stop = end if stop < 0 else stop
        text = data[start:stop].decode("utf-8", errors="replace").rstrip("\r")
        if text.strip():
            lines.append(Line(text, f"{position.head[:16]}-{offset + start}"))
        start = stop + 1
    consumed = min(start, end)
    return Chunk(lines, Position(position.inode, position.head, position.head_len, offset + consumed))
