"""Recall: candidates from dense keys, context windows and FTS5 keywords, scored by the pool.

Pipeline for one query:
1. Encode the query, pass it through the pool's learned adapter.
2. Candidates: the best rows by text cosine, by window cosine, and by BM25 keywords (FTS5).
3. Features per candidate (pool.FEATURES), including the query's time expression matched against the
   memory's date and the scores of the turns around it.
4. The pool's learned scorer ranks them; the top k come back with reasons.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import torch

from assistant.memory.blas_threads import single_blas_thread
from assistant.memory.keywords import RECALL_DOC_BUDGET
from assistant.memory.pool import FEATURES, TRUST_PRIOR, MemoryPool
from assistant.memory.store import MemoryStore
from assistant.memory.timeexpr import TimeRange, memory_date, parse_time_range
from assistant.types import Memory, RecalledMemory

_REASONS = {
    "keywords": "shares words",
    "dense": "similar meaning",
    "keywords_window": "its context shares words",
    "dense_window": "similar in its context",
    "neighbour": "next to a matching memory",
    "session": "from a conversation about this",
    "time_match": "matches the time asked about",
    "speaker": "said by the person asked about",
    "recency": "recent",
    "trust": "said by you",
    "pinned": "pinned",
    "access": "often recalled",
    "dense_unnamed": "similar meaning, the name aside",
    "length": "says a lot",
}
_DENSE_UNNAMED = FEATURES.index("dense_unnamed")
_LENGTH = FEATURES.index("length")


@dataclass(frozen=True)
class Candidates:
    """Features for the candidates of one query, before scoring (also used for training)."""

    ids: list[int]
    features: torch.Tensor  # (len(ids), len(FEATURES))
    time_range: TimeRange | None
    rows: np.ndarray  # pool row of each candidate, -1 when it has no vectors yet
    query_vector: torch.Tensor  # the encoded query, before the adapter


class Recaller:
    def __init__(
        self,
        store: MemoryStore,
        pool: MemoryPool,
        encode_query: Callable[[str], np.ndarray],
        *,
        candidates_per_list: int = 60,
    ) -> None:
        self.store = store
        self.pool = pool
        self.encode_query = encode_query
        self.candidates_per_list = candidates_per_list

    def candidates(
        self,
        query: str,
        as_of: date | None = None,
        include: tuple[int, ...] = (),
        *,
        every_feature: bool = True,
    ) -> Candidates:
        """Candidates and their features; `include` adds memories even if no list found them.

        `every_feature=False` (recall) leaves at 0 the costly features that cannot change a score
        yet (MemoryPool.is_silent): training needs them all, to learn their weights.

        The base signals (BM25 and cosine, of the memory and of its context window) are z-scored
        over the whole pool for this query, so each contributes on the same scale whatever the
        query's length or wording; a memory no keyword matched scores BM25 0, below average.

        A query naming one speaker is encoded a second time without the name ("dense_unnamed"):
        every memory of a conversation starts with "<speaker> said", so the name pulls the query
        towards anything that speaker said, rather than towards what it asks about.
        """
        pool = self.pool
        per_list = self.candidates_per_list
        query_vector = torch.from_numpy(self.encode_query(query))
        # Keywords: a budget of matching rows bounds FTS5's work (see keywords.affordable_words).
        # (Running these in a helper thread during the encoding was measured slower here: the
        # two halves slowed each other down by more than they overlapped.)
        keyword_hits = self.store.keyword_search(
            query, limit=per_list, active_ids=pool.row_of, doc_budget=RECALL_DOC_BUDGET
        )
        window_hits = self.store.keyword_search(
            query,
            limit=per_list,
            active_ids=pool.row_of,
            windows=True,
            doc_budget=RECALL_DOC_BUDGET,
        )
        adapted = torch.from_numpy(pool.adapt_array(query_vector.numpy()))
        text_rows, _ = pool.top_text(adapted, per_list)
        window_rows, _ = pool.top_window(adapted, per_list)
        total = max(len(pool), 1)
        keyword_z = _BM25Z(dict(keyword_hits), total)
        window_z = _BM25Z(dict(window_hits), total)
        ids = list(
            dict.fromkeys(
                pool.rows.ids[text_rows].tolist()
                + pool.rows.ids[window_rows].tolist()
                + [i for i, _ in keyword_hits]
                + [i for i, _ in window_hits]
                + list(include)
            )
        )
        # Memories not in the pool yet (their vectors are still being computed) come from keywords.
        row_of = pool.row_of
        rows = np.array([row_of.get(i, -1) for i in ids], dtype=np.int64)
        missing = [i for i, row in zip(ids, rows.tolist(), strict=True) if row < 0]
        extra = self.store.get_many(missing) if missing else {}

        # Base score (the four z-scored signals) of every candidate in the pool and its neighbours.
        present = rows[rows >= 0]
        around = np.concatenate([pool.prev_row[present], pool.next_row[present]])
        needed = np.unique(np.concatenate([present, around[around >= 0]])).astype(np.int64)
        text_of, window_of = pool.similarities(needed, adapted)
        text_mean, text_std, window_mean, window_std = pool.dense_statistics(adapted)
        needed_ids = pool.rows.ids[needed].tolist()
        text_z = (text_of - text_mean) / text_std
        window_cos_z = (window_of - window_mean) / window_std
        base = (keyword_z.of(needed_ids) + text_z + window_z.of(needed_ids) + window_cos_z).astype(
            np.float32
        )

        def base_of(target: np.ndarray) -> np.ndarray:
            """Base scores of pool rows, all of them in `needed`; −inf where there is no row (−1)."""
            found = np.searchsorted(needed, np.maximum(target, 0))
            return np.where(target >= 0, base[np.minimum(found, max(len(base) - 1, 0))], -np.inf)

        session_best: dict[str | None, float] = {}
        sessions = pool.rows.sessions
        for row, value in zip(needed.tolist(), base.tolist(), strict=True):
            session = sessions[row]
            if session is not None and value > session_best.get(session, -1e9):
                session_best[session] = value

        facts = [self._facts(row, extra.get(i)) for i, row in zip(ids, rows.tolist(), strict=True)]
        moments = [memory_date(occurred) for occurred, *_ in facts]
        keep = np.array([as_of is None or m is None or m <= as_of for m in moments], dtype=bool)
        features = np.zeros((len(ids), len(FEATURES)), dtype=np.float32)
        features[:, 0] = keyword_z.of(ids)
        features[:, 2] = window_z.of(ids)
        in_pool = rows >= 0
        if in_pool.any():
            at = np.searchsorted(needed, rows[in_pool])
            features[in_pool, 1] = text_z[at]
            features[in_pool, 3] = window_cos_z[at]
            best_neighbour = np.maximum(
                base_of(pool.prev_row[rows[in_pool]]), base_of(pool.next_row[rows[in_pool]])
            )
            # A turn with no neighbour at all gets 0 (not the max of nothing).
            features[in_pool, 4] = np.where(np.isfinite(best_neighbour), best_neighbour, 0.0)

        named = _named_speaker(query, pool.known_speakers)
        stripped = _without_name(query, named) if named is not None else ""
        if (
            in_pool.any()
            and re.search(r"\w", stripped)
            and (every_feature or not pool.is_silent("dense_unnamed"))
        ):
            # A second query encoding: skipped in recall until training gives the feature a say.
            unnamed = pool.adapt_array(self.encode_query(stripped))
            text_of, window_of = pool.similarities(rows[in_pool], torch.from_numpy(unnamed))
            text_mean, text_std, window_mean, window_std = pool.dense_statistics(
                torch.from_numpy(unnamed)
            )
            features[in_pool, _DENSE_UNNAMED] = (text_of - text_mean) / text_std + (
                window_of - window_mean
            ) / window_std
        if in_pool.any():
            features[in_pool, _LENGTH] = pool.length_z[rows[in_pool]]

        time_range = parse_time_range(query, as_of)
        today = as_of or date.today()
        for index, (_, trust, pinned, access, speaker, session) in enumerate(facts):
            moment = moments[index]
            if session is not None:
                features[index, 5] = session_best.get(session, 0.0)
            if time_range is not None and moment is not None:
                features[index, 6] = math.exp(-time_range.distance_days(moment) / 14.0)
            if named is not None and speaker is not None and speaker.lower() == named:
                features[index, 7] = 1.0
            if moment is not None:
                features[index, 8] = math.exp(-max(0, (today - moment).days) / 365.0)
            features[index, 9] = trust
            features[index, 10] = float(pinned)
            features[index, 11] = math.log1p(access) / 5.0
            if rows[index] < 0:  # not in the pool yet: its length from the text
                features[index, _LENGTH] = pool.length_of(len(extra[ids[index]].text.split()))
        chosen = np.flatnonzero(keep)
        return Candidates(
            [ids[i] for i in chosen],
            torch.from_numpy(features[chosen]),
            time_range,
            rows[chosen],
            query_vector,
        )

    def _facts(
        self, row: int, memory: Memory | None
    ) -> tuple[str, float, bool, int, str | None, str | None]:
        if row >= 0:
            rows = self.pool.rows
            return (
                rows.occurred[row],
                float(rows.trust[row]),
                bool(rows.pinned[row]),
                int(rows.access[row]),
                rows.speakers[row],
                rows.sessions[row],
            )
        assert memory is not None
        return (
            memory.occurred_at,
            TRUST_PRIOR.get(memory.trust, 0.2),
            memory.pinned,
            memory.access_count,
            memory.speaker,
            memory.session,
        )

    def recall(
        self,
        query: str,
        k: int = 10,
        *,
        as_of: date | datetime | None = None,
        exclude: Callable[[Memory], bool] | None = None,
    ) -> list[RecalledMemory]:
        """The k best memories for `query`, with scores and reasons.

        Side effect: BLAS runs on one thread, process-wide, while it works (see blas_threads.py).
        """
        with single_blas_thread():
            return self._recall(query, k, as_of, exclude)

    def _recall(
        self,
        query: str,
        k: int,
        as_of: date | datetime | None,
        exclude: Callable[[Memory], bool] | None,
    ) -> list[RecalledMemory]:
        day = as_of.date() if isinstance(as_of, datetime) else as_of
        # Recall's own arithmetic is numpy (see MemoryPool.adapt_array): no torch thread juggling.
        found = self.candidates(query, day, every_feature=False)
        if not found.ids:
            return []
        scores = self.pool.score_array(found.features.numpy())
        order = np.argsort(-scores)
        weights = self.pool.scorer.weight.detach()[0].numpy()
        memories = self.store.get_many(found.ids[i] for i in order[: k + 5])
        result: list[RecalledMemory] = []
        for index in order:
            memory = memories.get(found.ids[index])
            if memory is None:
                memories.update(self.store.get_many([found.ids[index]]))
                memory = memories.get(found.ids[index])
            if memory is None or (exclude is not None and exclude(memory)):
                continue
            contributions = weights * found.features[index].numpy()
            result.append(
                RecalledMemory(
                    memory,
                    float(scores[index]),
                    _reasons(contributions, found.features[index].numpy(), found.time_range),
                )
            )
            if len(result) == k:
                break
        return result


class _BM25Z:
    """z-score of BM25 over all `total` memories, those not matched counting as 0."""

    def __init__(self, scores: dict[int, float], total: int) -> None:
        values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        self.scores = scores
        self.mean = values.sum() / total
        variance = (values**2).sum() / total - self.mean**2
        self.spread = math.sqrt(variance) if variance > 1e-12 else 1.0

    def of(self, memory_ids: list[int]) -> np.ndarray:
        get = self.scores.get
        raw = np.fromiter(
            (get(i, 0.0) for i in memory_ids), dtype=np.float64, count=len(memory_ids)
        )
        return (raw - self.mean) / self.spread


def _named_speaker(query: str, known: frozenset[str]) -> str | None:
    """The one speaker the query names, if exactly one is named (lower case)."""
    words = set(re.findall(r"\w+", query.lower()))
    named = [s for s in known if s in words]
    return named[0] if len(named) == 1 else None


def _without_name(query: str, name: str) -> str:
    """The query with the (lower-case) name and a possessive "'s" after it taken out."""
    pattern = rf"\b{re.escape(name)}(?:['’]s)?\b"
    return " ".join(re.sub(pattern, " ", query, flags=re.IGNORECASE).split())


def _reasons(
    contributions: np.ndarray, values: np.ndarray, time_range: TimeRange | None
) -> tuple[str, ...]:
    ranked = sorted(range(len(FEATURES)), key=lambda i: -contributions[i])
    reasons: list[str] = []
    for index in ranked:
        if contributions[index] <= 0.02 or len(reasons) == 3:
            break
        name = FEATURES[index]
        label = _REASONS[name]
        if name == "time_match" and time_range is not None:
            label = f"matches '{time_range.phrase}'"
        elif name in ("dense", "dense_window", "keywords", "keywords_window", "dense_unnamed"):
            label = f"{label} (z {values[index]:.1f})"
        reasons.append(label)
    return tuple(reasons)
