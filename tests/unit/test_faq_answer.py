"""What the FAQ alone answers: the best entry's answer, or the fallback in the visitor's language."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.faq import (
    DEFAULT_FALLBACKS,
    FaqIndex,
    load_faq,
    offline_answer,
)

SHOP = Path(__file__).parent / "data" / "faq_shop.md"


@pytest.fixture(scope="module")
def shop() -> FaqIndex:
    return FaqIndex.build(load_faq(SHOP))


def test_offline_the_best_entry_answers_with_its_question_as_source(shop: FaqIndex) -> None:
    message = "faites-vous la livraison ?"
    answer = offline_answer(message, shop.search(message))
    assert answer.reply.startswith("Oui, nous livrons dans un rayon de 10 km")
    assert answer.sources == ["Livrez-vous à domicile ?"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Quelle est la recette de la pizza ?", DEFAULT_FALLBACKS["fr"]),
        ("What is the weather like in Lyon?", DEFAULT_FALLBACKS["en"]),
    ],
)
def test_offline_an_off_topic_message_gets_the_fallback_in_its_language(
    shop: FaqIndex, message: str, expected: str
) -> None:
    answer = offline_answer(message, shop.search(message))
    assert answer.reply == expected
    assert answer.sources == []


def test_offline_the_fallback_is_bilingual_when_the_language_cannot_be_told(shop: FaqIndex) -> None:
    reply = offline_answer("pizza?", shop.search("pizza?")).reply
    assert DEFAULT_FALLBACKS["fr"] in reply
    assert DEFAULT_FALLBACKS["en"] in reply


def test_offline_faq_fallback_overrides_the_default(shop: FaqIndex) -> None:
    answer = offline_answer("pizza?", [], fallback="  Appelez-nous au 01 23 45 67 89.  ")
    assert answer.reply == "Appelez-nous au 01 23 45 67 89."
