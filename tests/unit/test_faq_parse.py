"""Parsing the Markdown FAQ: what becomes a question, what becomes its answer, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.faq import FaqEntry, FaqError, load_faq, parse_faq

EXAMPLE = Path(__file__).parents[2] / "faq" / "faq.md"


def test_headings_are_questions_and_the_text_below_their_answers() -> None:
    text = (
        "# Title and intro, ignored\n\nSome preamble.\n\n"
        "## What are your hours?\n\nOpen 9-5.\n\nClosed on Sunday.\n\n"
        "## Do you deliver?\nYes:\n\n- in Lyon\n- in [Paris](https://example.com/paris)\n"
    )
    assert parse_faq(text) == [
        FaqEntry("What are your hours?", "Open 9-5.\n\nClosed on Sunday.", line=5),
        FaqEntry("Do you deliver?", "Yes:\n\n- in Lyon\n- in [Paris](https://example.com/paris)", line=11),
    ]


def test_only_level_two_headings_start_an_entry() -> None:
    text = (
        "## Question?\nAnswer.\n### A sub-heading stays in the answer\n##NoSpace is not a heading\n"
        "```sh\n## a comment in a code block\n```\n## Closing hashes are dropped ##\nSecond.\n"
    )
    entries = parse_faq(text)
    assert [entry.question for entry in entries] == ["Question?", "Closing hashes are dropped"]
    assert "### A sub-heading" in entries[0].answer
    assert "##NoSpace" in entries[0].answer
    assert "## a comment in a code block" in entries[0].answer


def test_windows_line_endings_and_a_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "faq.md"
    path.write_bytes("\ufeff## Où ?\r\nIci.\r\n".encode())
    assert load_faq(path) == [FaqEntry("Où ?", "Ici.", line=1)]


@pytest.mark.parametrize("text", ["", "\n\n", "# Only a title\n\nAnd an introduction.\n"])
def test_a_file_without_questions_has_no_entries(text: str) -> None:
    assert parse_faq(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("## First?\nYes.\n##   \nOrphan answer.\n", "faq.md:3: a '## ' heading has no question"),
        (
            "## First?\nYes.\n## Second?\n\n  \n## Third?\nNo.\n",
            "faq.md:3: the question 'Second?' has no answer",
        ),
        ("## Last?\n", "faq.md:1: the question 'Last?' has no answer"),
    ],
)
def test_a_malformed_file_is_refused_with_one_line_naming_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(FaqError) as caught:
        parse_faq(text, source="faq.md")
    assert str(caught.value) == expected


def test_invalid_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "faq.md"
    path.write_bytes(b"## Q?\nA.\n## Caf\xe9 ?\nOui.\n")
    with pytest.raises(FaqError, match=r"faq\.md:3: not valid UTF-8") as caught:
        load_faq(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["missing.md", "a-folder"])
def test_an_unreadable_file_names_the_file(tmp_path: Path, name: str) -> None:
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(FaqError, match=rf"^{tmp_path / name}: cannot read the FAQ file: ") as caught:
        load_faq(tmp_path / name)
    assert "\n" not in str(caught.value)


def test_the_shipped_example_is_a_bilingual_faq_of_15_to_25_entries() -> None:
    entries = load_faq(EXAMPLE)
    assert 15 <= len(entries) <= 25
    questions = " ".join(entry.question for entry in entries)
    assert "Comment" in questions
    assert "How" in questions
