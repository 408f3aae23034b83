"""Parse the Markdown FAQ: each `## ` heading is a question, the text under it is its answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# CommonMark ATX heading of level 2: up to 3 spaces of indent, `##`, then a space or tab (or nothing), and an
# optional closing run of `#`.
_HEADING = re.compile(r"^ {0,3}##(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class FaqError(Exception):
    """The FAQ file cannot be used; the message is one line naming the file (and the line when known)."""


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One question and its answer, kept as Markdown; `line` is the heading's line number in the file."""

    question: str
    answer: str
    line: int


def parse_faq(text: str, *, source: str = "<faq>") -> list[FaqEntry]:
    """Split Markdown into entries; text before the first `## ` heading is ignored."""
    entries: list[FaqEntry] = []
    question: str | None = None
    heading_line = 0
    body: list[str] = []
    fence: str | None = None

    def close() -> None:
        if question is None:
            return
        answer = "\n".join(body).strip("\n").rstrip()
        if not answer.strip():
            raise FaqError(f"{source}:{heading_line}: the question {question!r} has no answer")
        entries.append(FaqEntry(question=question, answer=answer, line=heading_line))

    for number, line in enumerate(text.splitlines(), start=1):
        # A `## ` inside a fenced code block is code, not a question.
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        heading = None if fence is not None or fence_match else _HEADING.match(line)
        if heading is None:
            body.append(line)
            continue
        close()
        question = " ".join((heading.group(1) or "").split())
        if not question:
            raise FaqError(f"{source}:{number}: a '## ' heading has no question")
        heading_line, body = number, []
    close()
    return entries


def load_faq(path: Path) -> list[FaqEntry]:
    """Read and parse the FAQ file (UTF-8, a BOM allowed); every failure is a one-line FaqError."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FaqError(f"{path}: cannot read the FAQ file: {error.strerror or error}") from error
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FaqError(f"{path}:{line}: not valid UTF-8 (byte {error.start})") from error
    return parse_faq(text, source=str(path))
