"""Top-k cosine search over the pool's key matrices: exact when small, a faiss index when large.

Exact search is one matrix-vector product: ≈9 ms for 100k × 384 here, bound by memory bandwidth,
and recall scans two key matrices. Past the pool's `exact_limit` rows that is too slow for
interactive recall, so each matrix gets a faiss IVF index with 8-bit scalar-quantised codes: k-means
groups the rows into lists, a query scans only the lists whose centroids are closest, and it reads
one byte per dimension instead of four. Measured on a million synthetic memories here: 4.5 ms per
matrix, finding 98% of the exact top 60 (`benchmarks/recall_scale.py` reports this overlap).

The index only proposes rows: their cosines are then computed exactly from the float keys, so
scores and order are exact among the rows found. The two indexes share one coarse quantizer (a
turn and its context window land in related lists; training once saves seconds at a million rows).
The indexes are derived data, rebuilt with the pool, never stored.
"""

from __future__ import annotations

import math

import numpy as np
import torch

try:  # faiss is a dependency; without it (a broken install) large pools fall back to exact search
    import faiss
except ImportError:  # pragma: no cover - exercised only on a broken install
    faiss = None  # type: ignore[assignment]


class VectorIndex:
    """An IVF-SQ8 index over one key matrix (rows in the pool's order)."""

    def __init__(self, index: object, lists: int, quantizer: object) -> None:
        self._index = index
        self._quantizer = quantizer  # faiss does not own it: keep it alive with the index
        self.lists = lists
        self.probes = max(8, lists // 32)  # scan about 3% of the rows

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        """Rows (not ordered) of about the `count` best keys.

        Searched on one OpenMP thread (this thread's setting only, restored after): faiss splits
        work by query, so for one query a second thread only starts and then spins, taking the
        core the query encoder needs. Measured at 100k memories on 2 cores: p95 32–33 ms with the
        default threads, 22.6–22.7 ms with one (and the host's steal fell from 2% to 0.1%).
        """
        self._index.nprobe = min(self.probes, self.lists)  # type: ignore[attr-defined]
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            _, found = self._index.search(query[None].astype(np.float32), count)  # type: ignore[attr-defined]
        finally:
            faiss.omp_set_num_threads(threads)
        rows: np.ndarray = found[0]
        return rows[rows >= 0].astype(np.int64)


def build_indexes(
    text_keys: np.ndarray, window_keys: np.ndarray, *, seed: int = 0
) -> tuple[VectorIndex, VectorIndex] | None:
    """IVF-SQ8 indexes for both key matrices (N, d), or None when faiss is missing."""
    if faiss is None:
        return None
    count, dim = text_keys.shape
    lists = max(16, int(2 * math.sqrt(count)))
    rng = np.random.default_rng(seed)
    quantizer = faiss.IndexFlatIP(dim)
    made = []
    for keys in (text_keys, window_keys):
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.seed = seed
        # The first call trains the shared coarse quantizer (k-means) and this matrix's 8-bit
        # ranges; the second finds the quantizer trained and fits only its own ranges.
        sample = keys[np.sort(rng.choice(count, min(count, lists * 48), replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.add(np.ascontiguousarray(keys, dtype=np.float32))
        made.append(VectorIndex(index, lists, quantizer))
    return made[0], made[1]


def top_rows(
    keys: torch.Tensor, query: torch.Tensor, count: int, index: VectorIndex | None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, exact cosines) of the `count` best rows, best first.

    The products run in numpy: for one query vector its BLAS call is about twice as fast as
    torch's on this class of CPU (8.7 vs 16.5 ms for 100k × 384 on one core).
    """
    if keys.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    matrix = keys.detach().numpy()
    vector = query.detach().numpy()
    if index is None:
        scores = matrix @ vector
        rows = _best(scores, count)
        return rows, scores[rows]
    # Twice as many from the 8-bit codes, so their rounding does not decide the last places.
    rows = index.search(vector, count * 2)
    scores = matrix[rows] @ vector
    best = _best(scores, count)
    return rows[best], scores[best]


def _best(scores: np.ndarray, count: int) -> np.ndarray:
    count = min(count, scores.shape[0])
    if count == 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-scores, count - 1)[:count]
    return top[np.argsort(-scores[top], kind="stable")]
