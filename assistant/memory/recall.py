"""Recall: candidates from dense keys, context windows and FTS5 keywords, scored by the pool.

Pipeline for one query:
1. Encode the query, pass it through the pool's learned adapter.
2. Candidates: the best rows by text cosine, by window cosine, and by BM25 keywords (FTS5).
3. Features per candidate (pool.FEATURES), including the query's time expression matched against the
   memory's date, the scores of the turns around it and its best-matching sentence.
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
from assistant.memory.pool import FEATURES, NO_DAY, TRUST_PRIOR, MemoryPool
from assistant.memory.sentences import unpack
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
    "dense_sentence": "a sentence of it matches",
}
_DENSE_UNNAMED = FEATURES.index("dense_unnamed")
_LENGTH = FEATURES.index("length")
_DENSE_SENTENCE = FEATURES.index("dense_sentence")
SENTENCE_RERANK = 40  # candidates whose sentences are scored (see Recaller._score_sentences)


@dataclass(frozen=True)
class Candidates:
    """Features for the candidates of one query, before scoring (also used for training)."""

    ids: list[int]
    features: torch.Tensor  # (len(ids), len(FEATURES))
    time_range: TimeRange | None
    rows: np.ndarray  # pool row of each candidate, -1 when it has no vectors yet
    query_vector: torch.Tensor  # the encoded query, before the adapter
    retrieved: np.ndarray  # bool per candidate: found by recall's lists, not only by `include`


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
        listed = dict.fromkeys(
            pool.rows.ids[text_rows].tolist()
            + pool.rows.ids[window_rows].tolist()
            + [i for i, _ in keyword_hits]
            + [i for i, _ in window_hits]
        )
        ids = list(listed) + [i for i in dict.fromkeys(include) if i not in listed]
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
        needed_ids = pool.rows.ids[needed]
        text_z = (text_of - text_mean) / text_std
        window_cos_z = (window_of - window_mean) / window_std
        base = (keyword_z.of(needed_ids) + text_z + window_z.of(needed_ids) + window_cos_z).astype(
            np.float32
        )

        def base_of(target: np.ndarray) -> np.ndarray:
            """Base scores of pool rows, all of them in `needed`; −inf where there is no row (−1)."""
            found = np.searchsorted(needed, np.maximum(target, 0))
            return np.where(target >= 0, base[np.minimum(found, max(len(base) - 1, 0))], -np.inf)

        facts = _facts_of(pool, rows, [extra.get(i) for i in ids])
        dated = facts.days != NO_DAY
        keep = np.ones(len(ids), dtype=bool)
        if as_of is not None:
            keep = ~dated | (facts.days <= as_of.toordinal())
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
            # Its floor: the whole text's cosine (exact for a memory of one sentence).
            features[in_pool, _DENSE_SENTENCE] = features[in_pool, 1]

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

        features[:, 5] = _session_best(pool.rows.session_codes[needed], base, facts.session_codes)
        time_range = parse_time_range(query, as_of)
        if time_range is not None:
            start, end = time_range.start.toordinal(), time_range.end.toordinal()
            # TimeRange.distance_days: 0 inside [start, end), else days to the nearest edge.
            distance = np.where(
                facts.days < start,
                start - facts.days,
                np.where(facts.days >= end, facts.days - end + 1, 0),
            )
            features[:, 6] = np.where(dated, np.exp(-distance / 14.0), 0.0)
        if named is not None:
            code = pool.speaker_code_of.get(named, -1)
            features[:, 7] = (facts.speaker_codes == code) & (code >= 0)
        today = (as_of or date.today()).toordinal()
        features[:, 8] = np.where(dated, np.exp(-np.maximum(0, today - facts.days) / 365.0), 0.0)
        features[:, 9] = facts.trust
        features[:, 10] = facts.pinned
        features[:, 11] = np.log1p(facts.access) / 5.0
        features[:, _LENGTH] = facts.length
        if every_feature or not pool.is_silent("dense_sentence"):
            # Training takes every candidate's exact value; recall, the few that can win.
            limit = len(ids) if every_feature else SENTENCE_RERANK
            self._score_sentences(
                ids, features, rows, keep, query_vector.numpy(), adapted, text_mean, text_std, limit
            )
        chosen = np.flatnonzero(keep)
        return Candidates(
            [ids[i] for i in chosen],
            torch.from_numpy(features[chosen]),
            time_range,
            rows[chosen],
            query_vector,
            chosen < len(listed),
        )

    def _score_sentences(
        self,
        ids: list[int],
        features: np.ndarray,
        rows: np.ndarray,
        keep: np.ndarray,
        query_vector: np.ndarray,
        adapted: torch.Tensor,
        text_mean: float,
        text_std: float,
        limit: int,
    ) -> None:
        """Raise the "dense_sentence" feature of the `limit` best candidates (by every other
        feature) from its floor to their best sentence's cosine z. Their sentence vectors are
        read from the database, not kept in memory (about one more vector per memory). Recall
        takes SENTENCE_RERANK of them, a second stage over the few that can reach the top: on
        LoCoMo the top 30 already rank exactly as all ~150 candidates do. `query_vector` is the
        encoded query (what the gate reads), `adapted` the adapted one (what cosines use)."""
        preliminary = self.pool.score_array(features, query_vector)
        eligible = np.flatnonzero(keep & (rows >= 0))
        if len(eligible) == 0:
            return
        top = eligible[np.argsort(-preliminary[eligible], kind="stable")[:limit]]
        wanted = [ids[i] for i in top.tolist()]
        blobs = self.store.sentence_blobs(wanted)
        dim = self.pool.dim
        sizes = np.array([len(blobs.get(i, b"")) for i in wanted])
        sizes = np.where(sizes % (2 * dim) == 0, sizes // (2 * dim), 0)  # pieces per memory
        if not sizes.any():
            return
        stacked = unpack(b"".join(blobs[i] for i, n in zip(wanted, sizes, strict=True) if n), dim)
        cosines = (stacked @ adapted.numpy().astype(np.float32) - text_mean) / text_std
        owners = np.repeat(top, sizes)
        np.maximum.at(features[:, _DENSE_SENTENCE], owners, cosines.astype(np.float32))

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
        query_vector = found.query_vector.numpy()
        scores = self.pool.score_array(found.features.numpy(), query_vector)
        order = np.argsort(-scores)
        weights = self.pool.weights_array(query_vector)
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
        keys = np.fromiter(scores.keys(), dtype=np.int64, count=len(scores))
        values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        order = np.argsort(keys)
        self.keys, self.values = keys[order], values[order]
        self.mean = values.sum() / total
        variance = (values**2).sum() / total - self.mean**2
        self.spread = math.sqrt(variance) if variance > 1e-12 else 1.0

    def of(self, memory_ids: list[int] | np.ndarray) -> np.ndarray:
        raw = _lookup(self.keys, self.values, np.asarray(memory_ids, dtype=np.int64))
        return (raw - self.mean) / self.spread


@dataclass(frozen=True)
class _Facts:
    """What recall's features need of each candidate, as arrays (row-aligned with the ids)."""

    days: np.ndarray  # date ordinals, NO_DAY without a date
    session_codes: np.ndarray  # pool session codes, -1 for none (or a session not in the pool)
    speaker_codes: np.ndarray  # pool speaker codes (lower case), -1 for none
    trust: np.ndarray
    pinned: np.ndarray
    access: np.ndarray
    length: np.ndarray  # the "length" feature


def _facts_of(pool: MemoryPool, rows: np.ndarray, memories: list[Memory | None]) -> _Facts:
    """Facts of the candidates: from the pool's arrays, or for a memory not in the pool yet
    (row -1: its vectors are still being computed) from its `memories` entry."""
    table = pool.rows
    where = np.maximum(rows, 0)

    def pick(column: np.ndarray, dtype: type) -> np.ndarray:
        """The column at the candidates' rows (a copy); zeros while the pool is empty."""
        if len(column) == 0:
            return np.zeros(len(rows), dtype=dtype)
        return column[where].astype(dtype)

    facts = _Facts(
        pick(table.days, np.int64),
        pick(table.session_codes, np.int64),
        pick(table.speaker_codes, np.int64),
        pick(table.trust, np.float64),
        pick(table.pinned, np.float64),
        pick(table.access, np.float64),
        pick(pool.length_z, np.float64),
    )
    for index in np.flatnonzero(rows < 0).tolist():
        memory = memories[index]
        assert memory is not None
        moment = memory_date(memory.occurred_at)
        facts.days[index] = moment.toordinal() if moment is not None else NO_DAY
        session, speaker = memory.session, memory.speaker
        facts.session_codes[index] = (
            pool.session_code_of.get(session, -1) if session is not None else -1
        )
        facts.speaker_codes[index] = (
            pool.speaker_code_of.get(speaker.lower(), -1) if speaker is not None else -1
        )
        facts.trust[index] = TRUST_PRIOR.get(memory.trust, 0.2)
        facts.pinned[index] = float(memory.pinned)
        facts.access[index] = memory.access_count
        facts.length[index] = pool.length_of(len(memory.text.split()))
    return facts


def _session_best(codes: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each session code in `wanted`: the largest of `values` among the rows with that code
    in `codes` (-1: no session), or 0 when there is none."""
    valid = codes >= 0
    distinct, group = np.unique(codes[valid], return_inverse=True)
    best = np.full(len(distinct), -np.inf)
    np.maximum.at(best, group, values[valid].astype(np.float64))
    return _lookup(distinct, best, wanted)


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The value of each wanted key (`keys` sorted, `values` aligned with them), 0 when absent."""
    if len(keys) == 0:
        return np.zeros(len(wanted))
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, values[at], 0.0)


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
        elif name in (
            "dense",
            "dense_window",
            "keywords",
            "keywords_window",
            "dense_unnamed",
            "dense_sentence",
        ):
            label = f"{label} (z {values[index]:.1f})"
        reasons.append(label)
    return tuple(reasons)
