"""Keyword queries for the FTS5 indexes: topic words only, quoted, and bounded in cost.

FTS5 ranks every row a query matches, so a word found in a large share of memories costs time in
proportion (≈1 µs per matching row here: 18 ms for a word in 22k context windows) while telling
little (its BM25 weight, the IDF, is small). Recall therefore keeps the rarest words within a
budget of matching rows and skips the rest; a user's explicit search keeps every word.
"""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)
RECALL_DOC_BUDGET = 2000  # matching rows FTS5 may rank per index for one recall

# Words that carry no topic: matching them only adds noise to BM25 over chat turns.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "said",
    ]
)


def keyword_words(text: str, limit: int = 32) -> list[str]:
    """The distinct topic words of `text`, lower case, in order (stopwords and single letters out)."""
    words: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()) or word in words:
            continue
        words.append(word)
        if len(words) == limit:
            break
    return words


def fts_query(words: list[str]) -> str:
    """Any of the words; each quoted, so user text is never FTS5 syntax."""
    return " OR ".join(f'"{word}"' for word in words)


def keyword_query(text: str, limit: int = 32) -> str | None:
    """An FTS5 query matching any topic word of `text`, or None when it has none."""
    words = keyword_words(text, limit)
    return fts_query(words) if words else None


class WordCounts:
    """How many rows of an FTS5 index a word matches (capped), remembering the common words.

    A count costs time in proportion to its value (up to the cap), so only common words are worth
    remembering, and only they can be remembered safely: one new memory changes a rare word's
    count in a way that matters (0 → 1 must never be missed), a common word's it does not.
    Everything is forgotten after `refresh_after` new rows or any removal.

    Threading: guarded by the database lock of the store that owns it (counts are taken inside
    `read()`), and `rows_changed` is called inside `write()`.
    """

    COMMON = 256

    def __init__(self, refresh_after: int = 1000) -> None:
        self.refresh_after = refresh_after
        self._known: dict[tuple[str, str], tuple[int, int]] = {}  # → (count, cap it was taken at)
        self._added = 0

    def rows_changed(self, added: int = 0, removed: bool = False) -> None:
        self._added += added
        if removed or self._added >= self.refresh_after:
            self._known.clear()
            self._added = 0

    def count(self, db: Any, table: str, word: str, cap: int) -> int:
        known = self._known.get((table, word))
        if known is not None:
            value, taken_at = known
            if value < taken_at or taken_at >= cap:  # exact, or already at least `cap`
                return min(value, cap)
        found = int(
            db.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT ?)",
                [f'"{word}"', cap],
            ).fetchone()[0]
        )
        if found >= self.COMMON:
            self._known[(table, word)] = (found, cap)
        return found


def affordable_words(
    db: Any, table: str, words: list[str], budget: int, counts: WordCounts | None = None
) -> list[str]:
    """The rarest words whose matching rows add up to at most `budget` (order kept).

    Each count stops at budget + 1 rows, so this costs well under a millisecond per word however
    large the index, and common words' counts are remembered (`counts`). In a small pool nothing
    is dropped: all the words together match fewer rows than the budget.
    """
    counter = counts or WordCounts()
    found = {word: counter.count(db, table, word, budget + 1) for word in words}
    kept: set[str] = set()
    spent = 0
    for word in sorted(words, key=lambda w: found[w]):
        if found[word] == 0:
            continue
        if spent + found[word] > budget:
            break
        kept.add(word)
        spent += found[word]
    return [w for w in words if w in kept]
