from __future__ import annotations

import pytest

from chatbot.errors import ApiError
from chatbot.routes.chat import read_message


def test_a_message_is_returned_untouched() -> None:
    assert read_message(b'{"message": "  Bonjour  ", "extra": 1}', 100) == "  Bonjour  "


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "manquant"),
        (b"   ", "manquant"),
        (b"{}", "manquant"),
        (b"{", "JSON valide"),
        (b"[]", "objet JSON"),
        (b"null", "objet JSON"),
        (b'{"message": true}', "chaîne"),
        (b'{"message": ""}', "vide"),
        (b'{"message": "abcdef"}', "5 caractères"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: bytes, fragment: str) -> None:
    with pytest.raises(ApiError) as error:
        read_message(body, 5)
    assert error.value.status_code == 400
    assert fragment in error.value.public_message


def test_the_limit_counts_characters_not_bytes() -> None:
    assert read_message('{"message": "ééééé"}'.encode(), 5) == "ééééé"
