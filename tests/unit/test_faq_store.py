"""Hot reload: edits to the FAQ file show up without a restart, and a broken edit keeps the last good FAQ."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from chatbot.faq import FaqError, FaqStore

GOOD = "## What are your opening hours?\nFrom 7 am to 7 pm.\n"
EDITED = GOOD + "## Do you deliver?\nYes, within 10 km.\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def faq(tmp_path: Path) -> Path:
    # The file sits in its own folder, as in Docker where the folder is bind-mounted.
    path = tmp_path / "faq" / "faq.md"
    path.parent.mkdir()
    path.write_text(GOOD, encoding="utf-8")
    return path


def save_by_rename(path: Path, text: str) -> None:
    """What most editors do: write a new file beside the old one, then rename it over."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def questions(store: FaqStore) -> list[str]:
    return [entry.question for entry in store.current().entries]


def test_an_edit_in_place_is_picked_up_after_the_check_interval(faq: Path) -> None:
    clock = Clock()
    store = FaqStore(faq, check_interval=2.0, clock=clock)
    faq.write_text(EDITED, encoding="utf-8")
    clock.now += 1.0
    assert questions(store) == ["What are your opening hours?"]  # not checked yet: no stat per message
    clock.now += 1.0
    assert len(store.index) == 1  # `index` never looks at the file
    assert questions(store) == ["What are your opening hours?", "Do you deliver?"]
    assert store.current().search("delivery")[0].entry.question == "Do you deliver?"


def test_a_save_by_rename_is_picked_up(faq: Path) -> None:
    store = FaqStore(faq, check_interval=0)
    save_by_rename(faq, EDITED)
    assert questions(store) == ["What are your opening hours?", "Do you deliver?"]


def test_an_edit_of_the_same_size_is_picked_up(faq: Path) -> None:
    store = FaqStore(faq, check_interval=0)
    stat = faq.stat()
    faq.write_text(GOOD.replace("7 pm", "8 pm"), encoding="utf-8")
    os.utime(faq, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert "8 pm" in store.current().entries[0].answer


def test_a_broken_edit_keeps_the_last_good_version_and_logs_one_error(
    faq: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FaqStore(faq, check_interval=0)
    caplog.set_level(logging.INFO, logger="chatbot.faq")
    save_by_rename(faq, GOOD + "## \nAn answer without a question.\n")
    for _ in range(3):
        assert questions(store) == ["What are your opening hours?"]
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].name == "chatbot.faq"
    assert f"{faq}:3: a '## ' heading has no question" in errors[0].getMessage()

    save_by_rename(faq, EDITED)
    assert questions(store) == ["What are your opening hours?", "Do you deliver?"]


def test_a_file_gone_for_a_while_keeps_the_last_good_version(
    faq: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FaqStore(faq, check_interval=0)
    faq.unlink()
    with caplog.at_level(logging.ERROR, logger="chatbot.faq"):
        assert questions(store) == ["What are your opening hours?"]
    assert "cannot read the FAQ file" in caplog.text
    faq.write_text(EDITED, encoding="utf-8")
    assert len(store.current()) == 2


def test_an_empty_file_is_a_valid_faq_of_no_entries(faq: Path) -> None:
    faq.write_text("", encoding="utf-8")
    assert len(FaqStore(faq).current()) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the FAQ file"), (b"## Question without answer\n", "has no answer")],
)
def test_a_broken_file_at_start_raises_a_one_line_error(
    faq: Path, content: bytes | None, message: str
) -> None:
    if content is None:
        faq.unlink()
    else:
        faq.write_bytes(content)
    with pytest.raises(FaqError, match=message) as caught:
        FaqStore(faq)
    assert str(caught.value).startswith(str(faq))
    assert "\n" not in str(caught.value)
