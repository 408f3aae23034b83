"""Typo tolerance: one slip of the finger is forgiven, a different word is not."""

from __future__ import annotations

import pytest

from chatbot.faq.typos import deletions, one_typo_apart


@pytest.mark.parametrize(
    ("typed", "known"),
    [
        ("opennig", "opening"),  # two neighbours swapped
        ("openng", "opening"),  # a letter missing
        ("openiing", "opening"),  # a letter too many
        ("opeming", "opening"),  # a letter wrong
    ],
)
def test_one_typo_is_forgiven(typed: str, known: str) -> None:
    assert one_typo_apart(typed, known)
    # The index finds `known` from `typed` only if they share a key: the word itself or a deletion.
    assert (deletions(typed) | {typed}) & (deletions(known) | {known})


@pytest.mark.parametrize(
    ("typed", "known"),
    [
        ("opnenig", "opening"),  # two typos
        ("bpening", "opening"),  # the first letter
        ("opening", "opening"),  # no typo at all
        ("livraison", "livrez"),
    ],
)
def test_other_words_are_not_typos(typed: str, known: str) -> None:
    assert not one_typo_apart(typed, known)
