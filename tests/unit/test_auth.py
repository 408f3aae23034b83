from __future__ import annotations

from chatbot.auth import KeyChecker


def test_every_listed_key_is_accepted() -> None:
    checker = KeyChecker(("alpha-key", "beta-key"))
    assert checker.accepts("alpha-key")
    assert checker.accepts("beta-key")


def test_near_misses_are_refused() -> None:
    checker = KeyChecker(("alpha-key",))
    for given in (None, "", "alpha-ke", "alpha-key ", "ALPHA-KEY", "alpha-key,beta-key", "é"):
        assert not checker.accepts(given), given
