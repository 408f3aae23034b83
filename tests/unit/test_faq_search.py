"""Retrieval: visitors' own wordings, in French or English, find the entry that answers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.faq import FaqEntry, FaqIndex, detect_language, load_faq

SHOP = Path(__file__).parent / "data" / "faq_shop.md"
EXAMPLE = Path(__file__).parents[2] / "faq" / "faq.md"


@pytest.fixture(scope="module")
def shop() -> FaqIndex:
    return FaqIndex.build(load_faq(SHOP))


@pytest.fixture(scope="module")
def example() -> FaqIndex:
    return FaqIndex.build(load_faq(EXAMPLE))


@pytest.mark.parametrize(
    ("query", "question"),
    [
        # Other words than the question's.
        ("when do you open on sunday", "What are your opening hours?"),
        ("vous êtes ouverts le lundi ?", "Quels sont vos horaires d'ouverture ?"),
        ("how much is delivery", "Do you deliver?"),
        ("combien coûte la livraison", "Livrez-vous à domicile ?"),
        ("I am celiac: anything gluten free for me?", "Do you have gluten-free bread?"),
        ("je voudrais commander un gâteau", "Comment commander un gâteau d'anniversaire ?"),
        ("I need a cake for my son's birthday", "How do I order a birthday cake?"),
        ("is there parking nearby", "Where is the bakery located?"),
        ("est-ce que vous prenez les tickets restaurant", "Quels moyens de paiement acceptez-vous ?"),
        # No accents, other case.
        ("PUIS-JE PAYER PAR CARTE", "Quels moyens de paiement acceptez-vous ?"),
        ("c'est ou la boulangerie", "Où se trouve la boulangerie ?"),
        ("je suis coeliaque, avez-vous du pain sans gluten", "Proposez-vous des produits sans gluten ?"),
        # A typo.
        ("what are your openng hours", "What are your opening hours?"),
        ("horaires d'ouvertrue", "Quels sont vos horaires d'ouverture ?"),
        ("sans glutene ?", "Proposez-vous des produits sans gluten ?"),
    ],
)
def test_a_paraphrase_finds_the_entry_that_answers_it(shop: FaqIndex, query: str, question: str) -> None:
    hits = shop.search(query)
    assert hits, f"nothing found for {query!r}"
    assert hits[0].entry.question == question


@pytest.mark.parametrize(
    "query",
    [
        "what is the weather in lyon tomorrow",
        "who is the president of france",
        "how do I fix my car",
        "quel temps fait-il ?",
        "recette de la pizza",
        "tell me a joke",
        "can you recommend a good movie",
        "comment réinstaller Windows",
        "I lost my password",
        "bonjour",
        "???",
    ],
)
def test_an_off_topic_question_finds_nothing(shop: FaqIndex, query: str) -> None:
    assert shop.search(query) == []


@pytest.mark.parametrize(
    ("query", "question"),
    [
        ("where do I put my OpenAI key", "How do I set up the OpenAI API key?"),
        ("comment ajouter une question à la FAQ", "Comment modifier ou ajouter des questions dans la FAQ ?"),
        ("how to use postmna", "How do I try the API with Postman?"),
        ("combien ça coûte", "Combien coûte le chatbot ?"),
        ("do you store chat logs", "Are visitors' conversations logged?"),
        # "chatbot" is in most entries of this FAQ: only questions are searched for it.
        ("c'est quoi ce chatbot ?", "Qu'est-ce que ce chatbot ?"),
        ("what is this chatbot", "What is this chatbot?"),
    ],
)
def test_the_shipped_faq_answers_a_newcomer(example: FaqIndex, query: str, question: str) -> None:
    hits = example.search(query)
    assert hits
    assert hits[0].entry.question == question


def test_the_visitors_language_wins_between_twin_entries(shop: FaqIndex) -> None:
    assert shop.search("gluten ?")[0].entry.question == "Do you have gluten-free bread?"
    assert shop.search("du gluten ?")[0].entry.question == "Proposez-vous des produits sans gluten ?"


def test_hits_are_best_first_within_top_k_and_the_threshold(shop: FaqIndex) -> None:
    hits = shop.search("livraison gratuite et horaires le dimanche", top_k=2, min_score=0.0)
    assert len(hits) == 2
    assert hits[0].score >= hits[1].score
    assert all(0.0 <= hit.score <= 1.0 for hit in hits)
    assert shop.search("livraison gratuite et horaires le dimanche", min_score=1.01) == []


def test_a_question_word_counts_more_than_an_answer_word() -> None:
    index = FaqIndex.build(
        [
            FaqEntry("Do you bake croissants?", "Every morning, with butter from Normandy.", line=1),
            FaqEntry("Where does your butter come from?", "Croissants aside, we use local butter.", line=3),
            FaqEntry("Are you open on Sunday?", "Yes, until noon.", line=5),
            FaqEntry("Do you sell coffee?", "Espresso and filter coffee.", line=7),
            FaqEntry("Can I pay by card?", "Yes, from one euro.", line=9),
            FaqEntry("Is there parking?", "Behind the shop.", line=11),
        ]
    )
    assert index.search("croissants")[0].entry.question == "Do you bake croissants?"
    assert index.search("butter")[0].entry.question == "Where does your butter come from?"


def test_an_empty_faq_finds_nothing() -> None:
    index = FaqIndex.build([])
    assert len(index) == 0
    assert index.search("opening hours") == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Quels sont vos horaires d'ouverture ?", "fr"),
        ("est-ce que vous livrez a domicile", "fr"),
        ("Où ?", "fr"),
        ("What are your opening hours?", "en"),
        ("do you deliver", "en"),
        ("gluten", None),
        ("", None),
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language
