"""Retrieval over FAQ entries: SQLite FTS5's BM25 ranks, a normalised score decides what is relevant."""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chatbot.faq.parse import FaqEntry
from chatbot.faq.text import LANGUAGES, Language, content_words, detect_language, stem
from chatbot.faq.typos import MIN_TYPO_LENGTH, deletions, one_typo_apart

#: A hit needs this normalised score (0-1) to count. Calibrated on 43 French and English paraphrases and 25
#: off-topic questions against faq/faq.md and the tests' FAQ (docs/faq.md): paraphrases found score 0.28-1,
#: off-topic ones get no match at all or score under 0.21, save those sharing a telling word with an entry
#: ("the capital of France" and "Le chatbot parle-t-il français ?"), which no lexical threshold can tell.
DEFAULT_MIN_SCORE = 0.25
DEFAULT_TOP_K = 3

# A word in the question counts this many times one in the answer: FAQ questions say what the entry is about.
QUESTION_WEIGHT = 2.0
# A query word the FAQ never uses weighs 3/4 of the rarest word it does use, so that the score tells "the FAQ
# covers most of what was asked" from "one word happened to match".
_UNKNOWN_WEIGHT = 0.75
_TYPO_PENALTY = 0.5
# Candidates BM25 hands to the final scoring: enough for the question-coverage factor to reorder near ties.
_CANDIDATES = 10
# How much of the score depends on the query covering the entry's question (the rest is BM25 alone).
_QUESTION_COVERAGE = 0.3
# An entry in the other language than the query's: bilingual FAQs hold the same answer in both.
_OTHER_LANGUAGE = 0.9
_NEGLIGIBLE_IDF = 1e-3
_MAX_CORRECTIONS = 8
_MAX_TERMS = 32
# Words whose correction (or lack of one) is remembered by an index; it is rebuilt, cache and all, on reload.
_CORRECTIONS_CACHED = 10_000
# Messages whose results an index remembers (a message is at most MAX_MESSAGE_CHARS: 4,000 x 4 KB at worst).
_RESULTS_CACHED = 4_000


@dataclass(frozen=True, slots=True)
class _Query:
    terms: list[str]
    unknown: float
    corrected: float
    language: Language | None


@dataclass(frozen=True, slots=True)
class Hit:
    """An entry relevant to a query; `score` is in [0, 1], 1 when the entry holds every word of the query."""

    entry: FaqEntry
    score: float


def _index_words(text: str, variants: dict[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Each content word as its distinct stems: French and English both, whatever the entry's language.

    `variants` maps the FAQ's words seen so far to their stems; sharing the tuples keeps the index small.
    """
    stems = []
    for word in content_words(text):
        if word not in variants:
            # French entries quote English words (OpenAI, install) and the reverse: both stems match either.
            variants[word] = tuple(dict.fromkeys(stem(word, language) for language in LANGUAGES))
        stems.append(variants[word])
    return stems


class FaqIndex:
    """An immutable search index over FAQ entries; build one with `FaqIndex.build(entries)`."""

    def __init__(self, entries: Sequence[FaqEntry]) -> None:
        self.entries: tuple[FaqEntry, ...] = tuple(entries)
        #: Changes with any edit of a question or an answer (the reply cache keys on it).
        self.digest = hashlib.sha256(
            json.dumps([(e.question, e.answer) for e in self.entries], ensure_ascii=False).encode()
        ).hexdigest()[:16]
        self._corrections: dict[str, str | None] = {}
        self._results: dict[tuple[str, int, float], tuple[Hit, ...]] = {}
        languages = [detect_language(f"{entry.question}\n{entry.answer}") for entry in self.entries]
        # A query whose language cannot be told tries the stems of the FAQ's main language first.
        majority: Language = (
            Counter(lang for lang in languages if lang).most_common(1)[0][0] if any(languages) else "en"
        )
        self._default_language: Language = majority
        self._doc_freq: Counter[str] = Counter()
        # check_same_thread=False: the index is read-only once built, and a reload may build it in a thread.
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE faq USING fts5(question, answer, content='', tokenize='ascii')"
        )
        self._db.execute(f"INSERT INTO faq(faq, rank) VALUES('rank', 'bm25({QUESTION_WEIGHT}, 1.0)')")
        self._languages = tuple(languages)
        # The FAQ's own words, against which the typo path corrects a query's.
        surface: dict[str, tuple[str, ...]] = {}
        question_terms = []
        rows = []
        for rowid, entry in enumerate(self.entries):
            question, answer = _index_words(entry.question, surface), _index_words(entry.answer, surface)
            flat = [[term for variants in words for term in variants] for words in (question, answer)]
            self._doc_freq.update(set(flat[0]) | set(flat[1]))
            question_terms.append(tuple(dict.fromkeys(question)))
            rows.append((rowid, " ".join(flat[0]), " ".join(flat[1])))
        self._question_terms: tuple[tuple[tuple[str, ...], ...], ...] = tuple(question_terms)
        self._db.executemany("INSERT INTO faq(rowid, question, answer) VALUES (?, ?, ?)", rows)
        # Symmetric-delete typo index (as in SymSpell): each FAQ word under itself and its one-letter
        # deletions. In SQLite it costs a fraction of what a dict of strings would.
        self._db.execute("CREATE TABLE typo(key TEXT, word TEXT, PRIMARY KEY (key, word)) WITHOUT ROWID")
        self._db.executemany(
            "INSERT OR IGNORE INTO typo VALUES (?, ?)",
            (
                (key, word)
                for word in surface
                if len(word) >= MIN_TYPO_LENGTH
                for key in deletions(word) | {word}
            ),
        )
        # Until committed, FTS5 keeps the terms in a hash table; 'optimize' then merges them into one b-tree,
        # the smallest and fastest form for an index that never changes.
        self._db.commit()
        self._db.execute("INSERT INTO faq(faq) VALUES ('optimize')")
        self._db.commit()

    @classmethod
    def build(cls, entries: Iterable[FaqEntry]) -> FaqIndex:
        """Index `entries`; the cost grows linearly, about 0.2 ms per entry (see bench/faq.py)."""
        return cls(list(entries))

    def __len__(self) -> int:
        return len(self.entries)

    def _idf(self, doc_freq: int) -> float:
        # FTS5's own IDF, clamp included, so that the normalisation matches what bm25() computed.
        count = len(self.entries)
        idf = math.log((count - doc_freq + 0.5) / (doc_freq + 0.5))
        return idf if idf > 0 else 1e-6

    def _correct(self, word: str) -> str | None:
        """The FAQ word one typo away from a misspelt `word` (the most common such word), or None."""
        if len(word) < MIN_TYPO_LENGTH:
            return None
        # Visitors reuse the same words: a query to SQLite per unknown word per message is the costliest step.
        if word in self._corrections:
            return self._corrections[word]
        if len(self._corrections) >= _CORRECTIONS_CACHED:
            self._corrections.clear()
        fixed = self._corrections[word] = self._lookup_correction(word)
        return fixed

    def _lookup_correction(self, word: str) -> str | None:
        keys = json.dumps(sorted(deletions(word) | {word}))
        candidates = self._db.execute(
            "SELECT DISTINCT word FROM typo WHERE key IN (SELECT value FROM json_each(?)) ORDER BY word",
            (keys,),
        ).fetchall()
        best: tuple[int, str] | None = None
        for (candidate,) in candidates:
            if one_typo_apart(word, candidate):
                frequency = max(self._doc_freq[stem(candidate, language)] for language in LANGUAGES)
                if best is None or frequency > best[0]:
                    best = (frequency, candidate)
        return best[1] if best else None

    def _known_stem(self, word: str, order: Sequence[Language]) -> str | None:
        return next((term for term in (stem(word, lang) for lang in order) if term in self._doc_freq), None)

    def _query_terms(self, query: str) -> _Query:
        language = detect_language(query)
        first = language or self._default_language
        order = (first, *(other for other in LANGUAGES if other != first))
        terms: dict[str, None] = {}
        unknown = corrected = 0.0
        for word in dict.fromkeys(content_words(query)):
            term = self._known_stem(word, order)
            # Correcting is the slow path: a long message full of unknown words must not pay it for each.
            if term is None and corrected + unknown < _MAX_CORRECTIONS and (fixed := self._correct(word)):
                term = self._known_stem(fixed, order)
                corrected += term is not None
            if term is None:
                unknown += 1
            else:
                terms[term] = None
        # The rarest words say the most; capping them bounds the cost of a 4,000-character message.
        kept = sorted(terms, key=self._doc_freq.__getitem__)[:_MAX_TERMS]
        return _Query(kept, unknown + len(terms) - len(kept), corrected, language)

    def search(
        self, query: str, *, top_k: int = DEFAULT_TOP_K, min_score: float = DEFAULT_MIN_SCORE
    ) -> list[Hit]:
        """The `top_k` entries most relevant to `query` whose score is at least `min_score`, best first."""
        if top_k < 1 or not self.entries:
            return []
        # Visitors ask the same questions over and over; the index never changes, so neither do the answers.
        key = (query, top_k, min_score)
        cached = self._results.get(key)
        if cached is None:
            if len(self._results) >= _RESULTS_CACHED:
                self._results.clear()
            cached = self._results[key] = tuple(self._search(query, top_k, min_score))
        return list(cached)

    def _search(self, query: str, top_k: int, min_score: float) -> list[Hit]:
        parsed = self._query_terms(query)
        if not parsed.terms:
            return []
        # BM25 ranks; the candidates it returns are then scored on a fixed 0-1 scale, see _score. Words in
        # over half the entries get a near-zero IDF from bm25(): matching them in every answer would score
        # most of the FAQ for nothing, so they are looked for in questions only, and only when no rarer
        # word was asked.
        rare = [term for term in parsed.terms if self._idf(self._doc_freq[term]) > _NEGLIGIBLE_IDF]
        expression = " OR ".join(f'"{term}"' for term in rare or parsed.terms)
        if not rare:
            expression = f"question : ({expression})"
        rows = self._db.execute(
            "SELECT rowid, rank FROM faq WHERE faq MATCH ? ORDER BY rank LIMIT ?",
            (expression, max(_CANDIDATES, top_k)),
        ).fetchall()
        reference = self._reference(parsed)
        hits = [
            Hit(self.entries[rowid], self._score(rowid, -rank / reference, parsed)) for rowid, rank in rows
        ]
        hits.sort(key=lambda hit: hit.score, reverse=True)
        return [hit for hit in hits[:top_k] if hit.score >= min_score]

    def _reference(self, query: _Query) -> float:
        """What bm25() gives an answer holding each query word once, at average length: the 1.0 mark."""
        # There, FTS5's term frequency part, f(k1 + 1) / (f + k1(1 - b + b)), is 1: each word adds its IDF.
        known = sum(self._idf(self._doc_freq[term]) for term in query.terms)
        # A corrected typo counts as half missing.
        missing = (_UNKNOWN_WEIGHT * query.unknown + _TYPO_PENALTY * query.corrected) * self._idf(1)
        return known + missing

    def _score(self, rowid: int, bm25: float, query: _Query) -> float:
        """Normalised BM25, scaled by how much of the entry's question the query covers and by language."""
        asked = set(query.terms)
        weights = [
            (max(self._smooth_idf(term) for term in variants), not asked.isdisjoint(variants))
            for variants in self._question_terms[rowid]
        ]
        total = sum(weight for weight, _ in weights)
        covered = sum(weight for weight, hit in weights if hit) / total if total else 0.0
        score = min(1.0, bm25) * (1 - _QUESTION_COVERAGE + _QUESTION_COVERAGE * covered)
        if query.language and self._languages[rowid] not in (None, query.language):
            score *= _OTHER_LANGUAGE
        return score

    def _smooth_idf(self, term: str) -> float:
        # Lucene's always-positive IDF: unlike BM25's, a word in most questions still counts a little.
        doc_freq = self._doc_freq[term]
        return math.log(1 + (len(self.entries) - doc_freq + 0.5) / (doc_freq + 0.5))
