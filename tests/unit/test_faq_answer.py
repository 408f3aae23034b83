"""What /chat makes of the hits: the FAQ's own answer offline, a grounded prompt for the model online."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.faq import (
    DEFAULT_FALLBACKS,
    FaqIndex,
    grounded_messages,
    load_faq,
    offline_answer,
    sources,
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


def test_grounded_messages_carry_the_entries_and_the_rules(shop: FaqIndex) -> None:
    message = "Combien coûte la livraison ?"
    hits = shop.search(message)
    system, user = grounded_messages(
        message, hits, system_prompt="Tu es le vendeur de la Boulangerie Dupain."
    )
    assert user == {"role": "user", "content": message}
    assert system["role"] == "system"
    content = system["content"]
    assert content.startswith("Tu es le vendeur de la Boulangerie Dupain.")
    assert "### Livrez-vous à domicile ?\nOui, nous livrons" in content
    assert "ONLY the FAQ entries" in content
    assert "say that the FAQ does not cover it" in content
    assert "visitor's language (it looks like French)" in content
    assert sources(hits)[0] == "Livrez-vous à domicile ?"


def test_grounded_messages_without_entries_tell_the_model_so() -> None:
    system, _ = grounded_messages("What is the weather like?", [])
    assert "(no FAQ entry matches this question)" in system["content"]
    assert "###" not in system["content"]
