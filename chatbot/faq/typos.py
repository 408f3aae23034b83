"""Typo tolerance: which FAQ words a misspelt query word may have meant (one edit away)."""

from __future__ import annotations

#: Shorter words are too often one letter away from an unrelated word (paris/pris, prix/pris).
MIN_TYPO_LENGTH = 5


def deletions(word: str) -> set[str]:
    """The word less one letter, each way: two words one typo apart share one of these, or one is the other.

    Indexing every FAQ word under these (the symmetric-delete method of SymSpell) finds the candidates for a
    misspelt word with a few lookups instead of a scan of the vocabulary.
    """
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def one_typo_apart(typed: str, known: str) -> bool:
    """True when `known` is one insertion, deletion, substitution or swap of neighbours away from `typed`.

    The first letters must match: people rarely get it wrong, and requiring it halves the false corrections.
    """
    if typed == known or typed[:1] != known[:1] or abs(len(typed) - len(known)) > 1:
        return False
    # Optimal string alignment distance, stopped as soon as every cell of a row exceeds 1.
    before: list[int] = []
    previous = list(range(len(known) + 1))
    for i in range(1, len(typed) + 1):
        current = [i] + [0] * len(known)
        for j in range(1, len(known) + 1):
            cost = typed[i - 1] != known[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and typed[i - 1] == known[j - 2] and typed[i - 2] == known[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > 1:
            return False
        before, previous = previous, current
    return previous[-1] <= 1
