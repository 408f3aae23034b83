"""Retrieval over FAQ entries: SQLite FTS5's BM25 ranks, a normalised score decides what is relevant."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chatbot.faq.parse import FaqEntry
from chatbot.faq.text import LANGUAGES, Language, content_words, detect_language, stem

#: A hit needs this normalised score (0-1) to count; calibrated on paraphrases and off-topic questions in French
#: and English (see tests/unit/test_faq_search.py): paraphrases score 0.4 and up, off-topic ones under 0.25.
DEFAULT_MIN_SCORE = 0.3
DEFAULT_TOP_K = 3

# A word in the question counts this many times one in the answer: FAQ questions say what the entry is about.
QUESTION_WEIGHT = 4.0
# FTS5's bm25() constants (fts5_aux.c); the normalisation below mirrors its formula.
_K1 = 1.2
# A query word the FAQ never uses weighs like the rarest word it does use, so the normalised score tells
# "the FAQ covers most of what was asked" from "one word happened to match".
_UNKNOWN_WEIGHT = 1.0
_MIN_FUZZY_LENGTH = 4


@dataclass(frozen=True, slots=True)
class Hit:
    """An entry relevant to a query; `score` is in [0, 1], 1 when every query word is in its question."""

    entry: FaqEntry
    score: float


def _edit_distance_at_most(a: str, b: str, limit: int) -> bool:
    """Damerau (optimal string alignment) distance <= limit; a swap of two letters is one typo."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return False
        previous2, previous = previous, current
    return previous[-1] <= limit


def _trigrams(word: str) -> set[str]:
    padded = f"${word}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class FaqIndex:
    """An immutable search index over FAQ entries; build one with `FaqIndex.build(entries)`."""

    def __init__(self, entries: Sequence[FaqEntry]) -> None:
        self.entries: tuple[FaqEntry, ...] = tuple(entries)
        languages = [detect_language(f"{entry.question}\n{entry.answer}") for entry in self.entries]
        # Entries too short to tell are stemmed like most of the FAQ.
        majority: Language = Counter(lang for lang in languages if lang).most_common(1)[0][0] if any(
            languages
        ) else "en"
        self._default_language: Language = majority
        self._doc_freq: Counter[str] = Counter()
        # Folded word -> the stem it was indexed as; the typo path corrects query words against these.
        self._surface: dict[str, str] = {}
        self._trigram_index: dict[str, list[str]] = {}
        # check_same_thread=False: the index is read-only once built, and a reload may build it in a thread.
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE faq USING fts5(question, answer, content='', tokenize='ascii')"
        )
        self._db.execute(f"INSERT INTO faq(faq, rank) VALUES('rank', 'bm25({QUESTION_WEIGHT}, 1.0)')")
        rows = []
        for rowid, (entry, language) in enumerate(zip(self.entries, languages, strict=True)):
            terms = [self._index_words(text, language or majority) for text in (entry.question, entry.answer)]
            self._doc_freq.update(set(terms[0]) | set(terms[1]))
            rows.append((rowid, " ".join(terms[0]), " ".join(terms[1])))
        self._db.executemany("INSERT INTO faq(rowid, question, answer) VALUES (?, ?, ?)", rows)
        for word in self._surface:
            for gram in _trigrams(word):
                self._trigram_index.setdefault(gram, []).append(word)

    @classmethod
    def build(cls, entries: Iterable[FaqEntry]) -> FaqIndex:
        """Index `entries`; cost grows linearly (about 0.1 ms per entry)."""
        return cls(list(entries))

    def __len__(self) -> int:
        return len(self.entries)

    def _index_words(self, text: str, language: Language) -> list[str]:
        terms = []
        for word in content_words(text):
            term = stem(word, language)
            self._surface.setdefault(word, term)
            terms.append(term)
        return terms

    def _idf(self, doc_freq: int) -> float:
        # FTS5's own IDF, clamp included, so that the normalisation matches what bm25() computed.
        count = len(self.entries)
        idf = math.log((count - doc_freq + 0.5) / (doc_freq + 0.5))
        return idf if idf > 0 else 1e-6

    def _correct(self, word: str) -> str | None:
        """The indexed stem of the FAQ word closest to a misspelt `word`, if one is a typo away."""
        if len(word) < _MIN_FUZZY_LENGTH or not self._trigram_index:
            return None
        shared: Counter[str] = Counter()
        for gram in _trigrams(word):
            shared.update(self._trigram_index.get(gram, ()))
        limit = 1 if len(word) < 8 else 2
        best: tuple[int, str] | None = None
        for candidate, _ in shared.most_common(32):
            if _edit_distance_at_most(word, candidate, limit):
                term = self._surface[candidate]
                if best is None or self._doc_freq[term] > best[0]:
                    best = (self._doc_freq[term], term)
        return best[1] if best else None

    def _query_terms(self, query: str) -> tuple[list[str], int]:
        """The indexed terms the query's words map to, and how many words the FAQ does not know."""
        language = detect_language(query) or self._default_language
        order = (language, *(other for other in LANGUAGES if other != language))
        terms: dict[str, None] = {}
        unknown = 0
        for word in dict.fromkeys(content_words(query)):
            term = next((t for t in (stem(word, lang) for lang in order) if t in self._doc_freq), None)
            term = term or self._correct(word)
            if term is None:
                unknown += 1
            else:
                terms[term] = None
        return list(terms), unknown

    def search(
        self, query: str, *, top_k: int = DEFAULT_TOP_K, min_score: float = DEFAULT_MIN_SCORE
    ) -> list[Hit]:
        """The `top_k` entries most relevant to `query` whose score is at least `min_score`, best first."""
        if top_k < 1 or not self.entries:
            return []
        terms, unknown = self._query_terms(query)
        if not terms:
            return []
        # The score bm25() would give a question holding each query word once, at average length: the 1.0 mark.
        per_word = QUESTION_WEIGHT * (_K1 + 1) / (QUESTION_WEIGHT + _K1)
        rarest = self._idf(1)
        reference = per_word * (
            sum(self._idf(self._doc_freq[term]) for term in terms) + unknown * rarest * _UNKNOWN_WEIGHT
        )
        expression = " OR ".join(f'"{term}"' for term in terms)
        rows = self._db.execute(
            "SELECT rowid, rank FROM faq WHERE faq MATCH ? ORDER BY rank LIMIT ?", (expression, top_k)
        ).fetchall()
        hits = [Hit(self.entries[rowid], min(1.0, -rank / reference)) for rowid, rank in rows]
        return [hit for hit in hits if hit.score >= min_score]
