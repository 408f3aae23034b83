"""Following Nginx's log files: positions that survive restarts, rotation by rename, no line lost."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from chatbot.shipper.state import StateFile
from chatbot.shipper.tail import LogTail, Position


def _append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.writelines(f"{line}\n" for line in lines)


def _ship(tail: LogTail, max_lines: int = 100) -> list[str]:
    """Reads and delivers (advances): what a successful batch does."""
    chunk = tail.read(max_lines)
    tail.advance(chunk.end)
    return [line.text for line in chunk.lines]


def _rotate(path: Path) -> None:
    """What nginx/rotate-logs.sh does: rename, then Nginx reopens (a new file at the old name)."""
    os.replace(path, path.with_name(path.name + ".1"))
    path.touch()


def test_a_new_log_is_shipped_from_its_start_and_only_complete_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    tail = LogTail(log, None)
    assert _ship(tail) == []  # no file yet
    log.write_text('{"n": 1}\n{"n": 2}\n{"n": 3', encoding="utf-8")  # the third line is still being written
    assert _ship(tail) == ['{"n": 1}', '{"n": 2}']
    assert _ship(tail) == []
    _append(log, "}")
    assert _ship(tail) == ['{"n": 3}']


def test_reading_does_not_move_the_position_until_delivered(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _append(log, "a", "b")
    tail = LogTail(log, None)
    first = tail.read(10)
    again = tail.read(10)  # the batch failed: the same lines, with the same ids
    assert [(x.text, x.line_id) for x in first.lines] == [(x.text, x.line_id) for x in again.lines]
    assert len({x.line_id for x in first.lines}) == 2


def test_batches_are_bounded_and_continue_where_they_stopped(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _append(log, *[f"line {i}" for i in range(25)])
    tail = LogTail(log, None)
    shipped = _ship(tail, 10) + _ship(tail, 10) + _ship(tail, 10)
    assert shipped == [f"line {i}" for i in range(25)]


def test_a_restart_resumes_from_the_saved_position(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", StateFile(tmp_path / "positions.json")
    _append(log, "before 1", "before 2")
    tail = LogTail(log, None)
    assert _ship(tail) == ["before 1", "before 2"]
    state.save({"access.log": tail.position})
    _append(log, "while down 1", "while down 2")  # Nginx goes on while the shipper restarts
    restarted = LogTail(log, state.load()["access.log"])
    assert _ship(restarted) == ["while down 1", "while down 2"]


def test_after_rotation_the_old_file_is_finished_before_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _append(log, "old 1")
    tail = LogTail(log, None, settle_s=0.3)
    assert _ship(tail) == ["old 1"]
    _append(log, "old 2")
    _rotate(log)
    _append(log.with_name("access.log.1"), "old 3")  # written before Nginx reopened its logs
    _append(log, "new 1")
    assert _ship(tail) == ["old 2", "old 3"]
    assert _ship(tail) == []  # the old file may still get a line until it has been quiet for settle_s
    time.sleep(0.4)
    assert _ship(tail) == ["new 1"]
    _append(log, "new 2")
    assert _ship(tail) == ["new 2"]


def test_a_restart_during_rotation_finishes_the_rotated_file(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", StateFile(tmp_path / "positions.json")
    _append(log, "a")
    tail = LogTail(log, None, settle_s=0)
    _ship(tail)
    state.save({"access.log": tail.position})
    _append(log, "b")
    _rotate(log)
    _append(log, "c")
    restarted = LogTail(log, state.load()["access.log"], settle_s=0)
    assert _ship(restarted) + _ship(restarted) == ["b", "c"]


def test_a_file_rotated_away_twice_is_reported_and_shipping_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "access.log"
    _append(log, "first")
    tail = LogTail(log, None, settle_s=0)
    _ship(tail)
    _append(log, "lost")
    _rotate(log)
    _append(log, "kept 1")
    _rotate(log)  # replaces access.log.1: "lost" is gone for good
    _append(log, "kept 2")
    with caplog.at_level(logging.WARNING):
        shipped = _ship(tail) + _ship(tail)
    assert shipped == ["kept 1", "kept 2"]
    assert "lost" in caplog.text


def test_a_new_file_that_reuses_the_inode_is_not_mistaken_for_the_old_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    _append(log, "x" * 40)
    tail = LogTail(log, None)
    _ship(tail)
    inode = log.stat().st_ino
    # Same inode, other content (a recreated file): the digest of its start tells them apart.
    position = tail.position
    assert position is not None
    assert position.inode == inode
    log.write_text("y" * 40 + "\n" + "z\n", encoding="utf-8")
    assert log.stat().st_ino == inode
    assert _ship(LogTail(log, position, settle_s=0)) == ["y" * 40, "z"]


def test_state_file_round_trip_and_an_unreadable_one_starts_over(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "positions.json")
    assert state.load() == {}
    saved = {"access.log": Position(12, "ab" * 32, 256, 4096), "error.log": None}
    state.save(saved)
    assert state.load() == saved
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "positions.json").write_text("{not json", encoding="utf-8")
    assert state.load() == {}
