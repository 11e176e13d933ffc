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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import torch

from assistant.memory.pool import FEATURES, MemoryPool
from assistant.memory.store import MemoryStore
from assistant.memory.timeexpr import TimeRange, memory_date, parse_time_range
from assistant.types import Memory, RecalledMemory

RRF_K = 60.0
_REASONS = {
    "dense": "similar meaning",
    "dense_window": "similar in its context",
    "keywords": "shares words",
    "fusion": "ranked high by several signals",
    "neighbour": "next to a matching memory",
    "time_match": "matches the time asked about",
    "recency": "recent",
    "trust": "said by you",
    "pinned": "pinned",
    "access": "often recalled",
}


@dataclass(frozen=True)
class Candidates:
    """Features for the candidates of one query, before scoring (also used for training)."""

    ids: list[int]
    features: torch.Tensor  # (len(ids), len(FEATURES))
    time_range: TimeRange | None
    rows: np.ndarray  # pool row of each candidate, -1 when it has no vectors yet
    query_vector: torch.Tensor  # the encoded query, before the adapter


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    count = min(count, scores.size)
    top = np.argpartition(-scores, count - 1)[:count]
    return top[np.argsort(-scores[top])]


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
        self, query: str, as_of: date | None = None, include: tuple[int, ...] = ()
    ) -> Candidates:
        """Candidates and their features; `include` adds memories even if no list found them."""
        pool = self.pool
        query_vector = torch.from_numpy(self.encode_query(query))
        with torch.no_grad():
            adapted = pool.adapt(query_vector[None])[0]
        per_list = self.candidates_per_list
        text_rows, _ = pool.top_text(adapted, per_list)
        window_rows, _ = pool.top_window(adapted, per_list)
        rankings: list[list[int]] = [
            [int(pool.rows.ids[row]) for row in text_rows],
            [int(pool.rows.ids[row]) for row in window_rows],
        ]
        keyword_hits = self.store.keyword_search(query, limit=per_list, active_ids=pool.row_of)
        rankings.append([memory_id for memory_id, _ in keyword_hits])
        keyword_score = dict(keyword_hits)
        best_keyword = max(keyword_score.values(), default=0.0) or 1.0

        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, memory_id in enumerate(ranking):
                fused[memory_id] = fused.get(memory_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        for memory_id in include:
            fused.setdefault(memory_id, 0.0)
        ids = list(fused)
        time_range = parse_time_range(query, as_of)
        today = as_of or date.today()
        # Memories not in the pool yet (their vectors are still being computed) come from keywords.
        missing = [i for i in ids if i not in pool.row_of]
        extra = self.store.get_many(missing) if missing else {}

        rows = np.full(len(ids), -1, dtype=np.int64)
        for index, memory_id in enumerate(ids):
            rows[index] = pool.row_of.get(memory_id, -1)
        # Exact cosines for the candidates and the turns around them, in one gather.
        present = rows[rows >= 0]
        needed = np.unique(
            np.concatenate([present, pool.prev_row[present], pool.next_row[present], [-1]])
        )
        needed = needed[needed >= 0]
        text_of, window_of = pool.similarities(needed, adapted)
        text_sim = dict(zip(needed.tolist(), text_of.tolist(), strict=True))
        window_sim = dict(zip(needed.tolist(), window_of.tolist(), strict=True))
        features = np.zeros((len(ids), len(FEATURES)), dtype=np.float32)
        for index, memory_id in enumerate(ids):
            row = int(rows[index])
            occurred, trust, pinned, access = self._facts(row, extra.get(memory_id))
            if row >= 0:
                features[index, 0] = text_sim[row]
                features[index, 1] = window_sim[row]
                around = [int(pool.prev_row[row]), int(pool.next_row[row])]
                features[index, 4] = max((window_sim[r] for r in around if r >= 0), default=0.0)
            features[index, 2] = keyword_score.get(memory_id, 0.0) / best_keyword
            features[index, 3] = fused[memory_id] * RRF_K / len(rankings)
            moment = memory_date(occurred)
            if time_range is not None and moment is not None:
                features[index, 5] = math.exp(-time_range.distance_days(moment) / 30.0)
            if moment is not None:
                features[index, 6] = math.exp(-max(0, (today - moment).days) / 365.0)
            features[index, 7] = trust
            features[index, 8] = float(pinned)
            features[index, 9] = math.log1p(access) / 5.0
        if as_of is not None:
            keep = [
                i
                for i, memory_id in enumerate(ids)
                if (d := memory_date(self._facts(int(rows[i]), extra.get(memory_id))[0])) is None
                or d <= as_of
            ]
            ids = [ids[i] for i in keep]
            features = features[keep]
            rows = rows[keep]
        return Candidates(ids, torch.from_numpy(features), time_range, rows, query_vector)

    def _facts(self, row: int, memory: Memory | None) -> tuple[str, float, bool, int]:
        from assistant.memory.pool import TRUST_PRIOR

        if row >= 0:
            rows = self.pool.rows
            return (
                rows.occurred[row],
                float(rows.trust[row]),
                bool(rows.pinned[row]),
                int(rows.access[row]),
            )
        assert memory is not None
        return (
            memory.occurred_at,
            TRUST_PRIOR.get(memory.trust, 0.2),
            memory.pinned,
            memory.access_count,
        )

    def recall(
        self,
        query: str,
        k: int = 10,
        *,
        as_of: date | datetime | None = None,
        exclude: Callable[[Memory], bool] | None = None,
    ) -> list[RecalledMemory]:
        day = as_of.date() if isinstance(as_of, datetime) else as_of
        found = self.candidates(query, day)
        if not found.ids:
            return []
        with torch.no_grad():
            scores = self.pool.score(found.features).numpy()
        order = np.argsort(-scores)
        weights = self.pool.scorer.weight.detach()[0].numpy()
        memories = self.store.get_many(found.ids[i] for i in order[: k * 3 + 10])
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
        elif name in ("dense", "dense_window", "neighbour"):
            label = f"{label} ({values[index]:.2f})"
        reasons.append(label)
    return tuple(reasons)
