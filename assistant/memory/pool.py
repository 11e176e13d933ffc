"""The memory pool: a torch module holding the key matrix of active memories and the learned parts.

- Keys: one unit vector per memory ("text") and one for the memory with its neighbours in the same
  session ("window"). They are a cache of the database, rebuilt from it at any time, never saved.
- Learned: a query adapter (a d×d linear map, identity at first), a linear scorer over recall
  features (FEATURES), a gate that shifts those weights by what the query is (zero at first) and
  a small residual network added to the score (silent at first). Their weights are saved in the
  encrypted database (`pool_state`). Recall's reasons come from the linear part, gate included.
- Search: exact below `exact_limit` memories, faiss IVF-SQ8 indexes above (index.py).
- Capacity: at most `capacity` memories are kept for recall; beyond it the least valuable are evicted
  (see eviction.py: never pinned memories, never user facts).

Threading: owned by the model lane; recall and training are not run concurrently.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from assistant.memory.index import VectorIndex, build_indexes, top_rows
from assistant.memory.signals import POOL_STATE_NAME as POOL_STATE_NAME
from assistant.memory.timeexpr import memory_date

FEATURES = (
    # The four base signals, each z-scored over the pool for this query, so they add up fairly:
    "keywords",  # BM25 of the memory (FTS5)
    "dense",  # cosine of the (adapted) query with the memory
    "keywords_window",  # BM25 of the memory with two session turns either side
    "dense_window",  # cosine with that window
    "neighbour",  # the best base score of the turn just before or after
    "session",  # the best base score in the memory's session (conversation)
    "time_match",  # 1 inside the query's time range, decaying over two weeks outside it
    "speaker",  # the query names one speaker and this memory is theirs
    "recency",  # newer memories first, when all else is equal
    "trust",  # user-stated > user-confirmed > imported > assistant
    "pinned",
    "access",  # how often it was recalled before (log scale)
    # Added later (a saved state without them loads with their defaults, see load_learned_state):
    "dense_unnamed",  # the query names one speaker: text + window cosine z of it without the name
    "length",  # log word count of the memory, z-scored over the pool (long turns carry more)
    # The best cosine among the memory's sentences (or its whole text's, if higher), z-scored with
    # the text cosine's statistics: one sentence that answers counts (sentences.py).
    "dense_sentence",
)
BASE_FEATURES = 4
DEFAULT_WEIGHTS = {
    "keywords": 1.0,
    "dense": 1.0,
    "keywords_window": 1.0,
    "dense_window": 1.0,
    "neighbour": 0.2,
    "session": 0.25,
    "time_match": 2.0,
    "speaker": 0.3,
    "recency": 0.05,
    "trust": 0.1,
    "pinned": 0.3,
    "access": 0.05,
    # Zero: an untrained pool ranks as before these existed; training finds their weights.
    "dense_unnamed": 0.0,
    "length": 0.0,
    # A fifth z-scored similarity, weighted as the four base signals are.
    "dense_sentence": 1.0,
}
TRUST_PRIOR = {"user-stated": 1.0, "user-confirmed": 0.8, "imported": 0.5, "assistant": 0.2}
RESIDUAL_WIDTH = 16
NO_DAY = 0  # PoolRows.days of a memory without a readable date (real ordinals start at 1)


@dataclass
class PoolRows:
    """What the pool keeps per memory, row-aligned with the key matrices."""

    ids: np.ndarray  # int64 (N,)
    trust: np.ndarray  # float32 prior (N,)
    pinned: np.ndarray  # bool (N,)
    access: np.ndarray  # int64 (N,)
    log_words: np.ndarray  # float32 log(1 + word count) (N,)
    # Text facts as numbers, so recall computes its features for all candidates at once (the
    # names behind the codes: MemoryPool.session_code_of and speaker_code_of):
    days: np.ndarray  # int64 (N,): date.toordinal() of the memory's time, NO_DAY without a date
    session_codes: np.ndarray  # int64 (N,): a number per distinct session, -1 for none
    speaker_codes: np.ndarray  # int64 (N,): a number per distinct lower-case speaker, -1 for none


class MemoryPool(nn.Module):
    def __init__(self, dim: int, *, capacity: int = 1_000_000, exact_limit: int = 30_000) -> None:
        super().__init__()
        self.dim = dim
        self.capacity = capacity
        self.exact_limit = exact_limit
        self.text_index: VectorIndex | None = None
        self.window_index: VectorIndex | None = None
        self.adapter = nn.Linear(dim, dim, bias=False)
        self.scorer = nn.Linear(len(FEATURES), 1)
        # Feature weights that depend on the query: a linear map of the encoded query (before
        # the adapter) added to the scorer's weights. "When did…" questions lean on the time
        # match, "what does <name>…" on the speaker, whatever the conversation; one weight for
        # every kind of question cannot say that. Zero at first.
        self.gate = nn.Linear(dim, len(FEATURES), bias=False)
        # A small learned correction on top of the linear scorer, for what a weighted sum cannot
        # say (e.g. a time match matters more when the keywords are weak). Its output layer starts
        # at zero, so an untrained pool ranks by the hand-set weights alone.
        self.residual = nn.Sequential(
            nn.Linear(len(FEATURES), RESIDUAL_WIDTH), nn.Tanh(), nn.Linear(RESIDUAL_WIDTH, 1)
        )
        self.reset_learning()
        self.register_buffer("keys", torch.zeros((0, dim)), persistent=False)
        self.register_buffer("window_keys", torch.zeros((0, dim)), persistent=False)
        self.rows = PoolRows(
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros(0, bool),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
        )
        self.session_code_of: dict[str, int] = {}
        self.speaker_code_of: dict[str, int] = {}  # lower-case name → code
        self.length_mean, self.length_std = 0.0, 1.0
        self.length_z = np.zeros(0, np.float32)  # the "length" feature of each row
        self.prev_row = np.zeros(0, np.int64)
        self.next_row = np.zeros(0, np.int64)
        self.row_of: dict[int, int] = {}
        self._text_moments = _Moments(np.zeros((0, dim), np.float32))
        self._window_moments = _Moments(np.zeros((0, dim), np.float32))
        self.known_speakers: frozenset[str] = frozenset()

    # -- learned parts --------------------------------------------------------------------------
    def reset_learning(self) -> None:
        """Back to the hand-set starting point: identity adapter, default feature weights."""
        with torch.no_grad():
            self.adapter.weight.copy_(torch.eye(self.dim))
            self.scorer.weight.copy_(torch.tensor([[DEFAULT_WEIGHTS[f] for f in FEATURES]]))
            self.scorer.bias.zero_()
            self.gate.weight.zero_()
            generator = torch.Generator().manual_seed(0)  # the same starting point every time
            first = cast(nn.Linear, self.residual[0])
            last = cast(nn.Linear, self.residual[2])
            bound = 1 / math.sqrt(len(FEATURES))
            first.weight.copy_(
                torch.empty_like(first.weight).uniform_(-bound, bound, generator=generator)
            )
            first.bias.zero_()
            last.weight.zero_()
            last.bias.zero_()

    def learned_state(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(
            {
                "adapter": self.adapter.state_dict(),
                "scorer": self.scorer.state_dict(),
                "gate": self.gate.state_dict(),
                "residual": self.residual.state_dict(),
            },
            buffer,
        )
        return buffer.getvalue()

    def load_learned_state(self, data: bytes) -> None:
        """Load saved weights. A state saved with fewer FEATURES (features are only ever appended)
        gets the new ones' default weights, and silent gate rows and residual inputs: it ranks as
        it did, plus what the new features' defaults add to an untrained pool (dense_sentence's
        weight 1). A state saved before the gate existed loads with the gate at zero."""
        state = torch.load(io.BytesIO(data), weights_only=True)
        self.adapter.load_state_dict(state["adapter"])
        scorer = dict(state["scorer"])
        saved = int(scorer["weight"].shape[1])
        if saved < len(FEATURES):
            defaults = torch.tensor([[DEFAULT_WEIGHTS[f] for f in FEATURES[saved:]]])
            scorer["weight"] = torch.cat([scorer["weight"], defaults.to(scorer["weight"])], 1)
        self.scorer.load_state_dict(scorer)
        with torch.no_grad():
            self.gate.weight.zero_()
            if "gate" in state:
                saved_gate = state["gate"]["weight"]
                self.gate.weight[: saved_gate.shape[0]] = saved_gate
        if "residual" in state:  # saved before the residual existed: it stays at zero
            residual = dict(state["residual"])
            first = residual["0.weight"]
            if first.shape[1] < len(FEATURES):
                padding = first.new_zeros((first.shape[0], len(FEATURES) - first.shape[1]))
                residual["0.weight"] = torch.cat([first, padding], 1)
            self.residual.load_state_dict(residual)

    def feature_weights(self) -> dict[str, float]:
        weights = self.scorer.weight.detach()[0].tolist()
        return dict(zip(FEATURES, weights, strict=True))

    def is_silent(self, feature: str) -> bool:
        """True when `feature` cannot change any score: its linear weight is 0 for every query
        (the gate's row for it too), and the residual gives it no path (the residual's output
        layer is still zero, or the feature's input column is). Recall may then skip it."""
        column = FEATURES.index(feature)
        first = cast(nn.Linear, self.residual[0])
        last = cast(nn.Linear, self.residual[2])
        with torch.no_grad():
            no_path = not bool(last.weight.any()) or not bool(first.weight[:, column].any())
            gated = bool(self.gate.weight[column].any())
            return float(self.scorer.weight[0, column]) == 0.0 and not gated and no_path

    def adapt(self, queries: torch.Tensor) -> torch.Tensor:
        """Adapted, re-normalised query vectors (batch, dim)."""
        return nn.functional.normalize(self.adapter(queries), dim=-1)

    def score(self, features: torch.Tensor, query: torch.Tensor | None = None) -> torch.Tensor:
        """(candidates, len(FEATURES)) → (candidates,), for the encoded `query` (dim,), before
        the adapter. Without a query, the gate's part is left out."""
        linear = self.scorer(features).squeeze(-1)
        if query is not None:
            linear = linear + features @ self.gate(query)
        return linear + self.residual(features).squeeze(-1)

    # Recall's inference path, in numpy: for one query and a few hundred candidates the products
    # are tiny, and torch's dispatch and thread wake-ups cost more than the arithmetic (≈2 ms per
    # recall, measured). Training uses the torch methods above; a test keeps the two in step.
    def adapt_array(self, query: np.ndarray) -> np.ndarray:
        """`adapt` for one query vector (dim,)."""
        vector: np.ndarray = self.adapter.weight.detach().numpy() @ query
        return vector / max(float(np.linalg.norm(vector)), 1e-12)

    def weights_array(self, query: np.ndarray | None = None) -> np.ndarray:
        """The linear feature weights for the encoded `query` (before the adapter): the scorer's,
        shifted by the gate. Recall's reasons are these weights times the features."""
        weights: np.ndarray = self.scorer.weight.detach().numpy()[0]
        if query is not None:
            weights = weights + self.gate.weight.detach().numpy() @ query
        return weights

    def score_array(self, features: np.ndarray, query: np.ndarray | None = None) -> np.ndarray:
        """`score` for a (candidates, len(FEATURES)) array and a (dim,) query."""
        first = cast(nn.Linear, self.residual[0])
        last = cast(nn.Linear, self.residual[2])
        bias = float(self.scorer.bias.detach()[0])
        linear = features @ self.weights_array(query) + bias
        hidden = np.tanh(features @ first.weight.detach().numpy().T + first.bias.detach().numpy())
        result: np.ndarray = (
            linear + hidden @ last.weight.detach().numpy()[0] + float(last.bias.detach()[0])
        )
        return result

    # -- keys -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.rows.ids.shape[0])

    def load_rows(
        self,
        ids: Sequence[int],
        sessions: Sequence[str | None],
        occurred: Sequence[str],
        trust: Sequence[str],
        pinned: Sequence[bool],
        access: Sequence[int],
        text_vectors: np.ndarray,
        window_vectors: np.ndarray,
        speakers: Sequence[str | None] | None = None,
        words: Sequence[int] | None = None,
    ) -> None:
        """Replace the key matrices. Rows must be ordered by session then position.

        `words`: each memory's word count (the "length" feature; 0 for all rows when not given).
        """
        log_words = np.log1p(
            np.asarray(words if words is not None else [0] * len(ids), dtype=np.float32)
        )
        speakers = list(speakers) if speakers is not None else [None] * len(ids)
        names = [s.lower() if s is not None else None for s in speakers]
        self.session_code_of = _codes(sessions)
        self.speaker_code_of = _codes(names)
        self.rows = PoolRows(
            ids=np.asarray(ids, dtype=np.int64),
            trust=np.asarray([TRUST_PRIOR.get(t, 0.2) for t in trust], dtype=np.float32),
            pinned=np.asarray(pinned, dtype=bool),
            access=np.asarray(access, dtype=np.int64),
            log_words=log_words,
            days=_days(occurred),
            session_codes=_coded(sessions, self.session_code_of),
            speaker_codes=_coded(names, self.speaker_code_of),
        )
        self.length_mean = float(log_words.mean()) if len(log_words) else 0.0
        self.length_std = float(log_words.std()) if len(log_words) else 0.0
        self.length_std = self.length_std if self.length_std > 1e-6 else 1.0
        self.length_z = ((log_words - self.length_mean) / self.length_std).astype(np.float32)
        self.keys = torch.from_numpy(np.ascontiguousarray(text_vectors, dtype=np.float32))
        self.window_keys = torch.from_numpy(np.ascontiguousarray(window_vectors, dtype=np.float32))
        count = len(self)
        # Neighbours: the rows just before and after in the same session (rows come in order).
        codes = self.rows.session_codes
        follows = np.flatnonzero((codes[1:] >= 0) & (codes[1:] == codes[:-1])) + 1
        self.prev_row = np.full(count, -1, dtype=np.int64)
        self.next_row = np.full(count, -1, dtype=np.int64)
        self.prev_row[follows] = follows - 1
        self.next_row[follows - 1] = follows
        self.known_speakers = frozenset(
            s.lower() for s in set(speakers) if s and s not in ("user", "assistant")
        )
        self.text_index = self.window_index = None
        if count > self.exact_limit:
            built = build_indexes(self.keys.numpy(), self.window_keys.numpy())
            if built is not None:
                self.text_index, self.window_index = built
        self.row_of = {int(memory_id): row for row, memory_id in enumerate(self.rows.ids)}
        # Evenly spaced rows, for the z-score statistics of each query.
        step = max(1, count // 2048)
        self._text_moments = _Moments(self.keys.numpy()[::step])
        self._window_moments = _Moments(self.window_keys.numpy()[::step])

    def length_of(self, words: int) -> float:
        """The "length" feature of a memory with this many words (one not in the pool yet)."""
        return (math.log1p(words) - self.length_mean) / self.length_std

    def dense_statistics(self, query: torch.Tensor) -> tuple[float, float, float, float]:
        """Mean and spread of the text and window cosines over the pool, for z-scoring.

        Estimated from 2,048 to 4,096 evenly spaced rows (all rows of a smaller pool): exact
        enough, and constant time (see _Moments).
        """
        if len(self) == 0:
            return 0.0, 1.0, 0.0, 1.0
        vector = query.detach().numpy()
        return (*self._text_moments.of(vector), *self._window_moments.of(vector))

    def top_text(self, query: torch.Tensor, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The `count` rows whose memory is closest to the adapted query: (rows, cosines)."""
        return top_rows(self.keys, query, count, self.text_index)

    def top_window(self, query: torch.Tensor, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The same over the memories taken with their session neighbours."""
        return top_rows(self.window_keys, query, count, self.window_index)

    def similarities(self, rows: np.ndarray, query: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Exact (text, window) cosines of the given rows (a small gather: numpy, no thread pool)."""
        vector = query.detach().numpy()
        index = np.asarray(rows, dtype=np.int64)
        return self.keys.numpy()[index] @ vector, self.window_keys.numpy()[index] @ vector


class _Moments:
    """Mean and spread of `rows @ q` for any query q, from the rows' mean and covariance.

    mean = m·q and variance = qᵀCq, with m the mean row and C the rows' covariance. Taken once
    per pool load (a 384×384 product over the sample, in float64, then kept in float32: C is
    centred, so no large terms cancel), a query costs two small products instead of a pass over
    the sample rows: ≈25 µs against ≈180 µs per key matrix.
    """

    def __init__(self, rows: np.ndarray) -> None:
        sample = np.asarray(rows, dtype=np.float64)
        count = max(sample.shape[0], 1)
        mean = sample.sum(axis=0) / count
        self.mean = mean.astype(np.float32)
        self.covariance = ((sample.T @ sample) / count - np.outer(mean, mean)).astype(np.float32)

    def of(self, query: np.ndarray) -> tuple[float, float]:
        vector = np.asarray(query, dtype=np.float32)
        variance = float(vector @ self.covariance @ vector)
        return float(self.mean @ vector), math.sqrt(variance) if variance > 1e-12 else 1.0


def _codes(values: Iterable[str | None]) -> dict[str, int]:
    """A number for each distinct value, in order of first appearance (None gets none)."""
    distinct = dict.fromkeys(v for v in values if v is not None)
    return {value: code for code, value in enumerate(distinct)}


def _coded(values: Iterable[str | None], codes: dict[str, int]) -> np.ndarray:
    return np.fromiter((-1 if v is None else codes[v] for v in values), dtype=np.int64)


def _days(occurred: Sequence[str]) -> np.ndarray:
    """date.toordinal() of each ISO time (memory_date's reading), NO_DAY when unreadable.

    Read once per distinct string: memories of one day share it, so a million rows take well
    under a second.
    """
    day_of: dict[str, int] = {}
    for text in set(occurred):
        moment = memory_date(text) if isinstance(text, str) else None
        day_of[text] = moment.toordinal() if moment is not None else NO_DAY
    return np.fromiter((day_of[text] for text in occurred), dtype=np.int64, count=len(occurred))
