"""The pool's faiss path for large pools: the same neighbours as exact search, exact scores."""

from __future__ import annotations

import numpy as np
import torch

from assistant.memory.pool import MemoryPool


def clustered_keys(count: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    keys = centres[rng.integers(0, 40, count)] + 0.3 * rng.standard_normal((count, dim))
    return (keys / np.linalg.norm(keys, axis=1, keepdims=True)).astype(np.float32)


def load(pool: MemoryPool, keys: np.ndarray) -> None:
    count = keys.shape[0]
    pool.load_rows(
        ids=list(range(1000, 1000 + count)),
        sessions=[f"s{i // 10}" for i in range(count)],
        occurred=["2024-01-01T00:00:00"] * count,
        trust=["user-stated"] * count,
        pinned=[False] * count,
        access=[0] * count,
        text_vectors=keys,
        window_vectors=keys,
    )


def test_ivf_finds_what_exact_search_finds() -> None:
    keys = clustered_keys(5000)
    exact, approximate = MemoryPool(32), MemoryPool(32, exact_limit=100)
    load(exact, keys)
    load(approximate, keys)
    assert exact.text_index is None and approximate.text_index is not None
    hits = 0
    for probe in range(50):
        query = torch.from_numpy(keys[probe * 97])
        exact_rows, _ = exact.top_text(query, 10)
        approx_rows, approx_scores = approximate.top_text(query, 10)
        exact_ids = set(exact.rows.ids[exact_rows].tolist())
        approx_ids = approximate.rows.ids[approx_rows].tolist()
        hits += len(exact_ids & set(approx_ids))
        assert approx_ids[0] == 1000 + probe * 97  # the key itself comes first
        assert np.all(np.diff(approx_scores) <= 1e-6)
    assert hits / (50 * 10) > 0.9


def test_probing_every_list_finds_the_exact_neighbours() -> None:
    keys = clustered_keys(2000, seed=3)
    exact, approximate = MemoryPool(32), MemoryPool(32, exact_limit=100)
    load(exact, keys)
    load(approximate, keys)
    assert approximate.text_index is not None and approximate.window_index is not None
    approximate.text_index.probes = approximate.text_index.lists
    approximate.window_index.probes = approximate.window_index.lists
    rng = np.random.default_rng(1)
    for _ in range(10):
        query = torch.from_numpy(keys[int(rng.integers(2000))])
        exact_rows, exact_scores = exact.top_text(query, 25)
        rows, scores = approximate.top_text(query, 25)
        window_rows, window_scores = approximate.top_window(query, 25)
        # Same memories, same cosines, each reported row holding the key it was scored on.
        assert exact.rows.ids[exact_rows].tolist() == approximate.rows.ids[rows].tolist()
        assert np.allclose(scores, exact_scores, atol=1e-5)
        assert np.allclose(
            approximate.window_keys.numpy()[window_rows] @ query.numpy(), window_scores, atol=1e-6
        )
        assert exact.top_window(query, 25)[0].tolist() == window_rows.tolist()


def test_rows_stay_in_pool_order_with_an_index() -> None:
    keys = clustered_keys(3000)
    pool = MemoryPool(32, exact_limit=100)
    load(pool, keys)
    assert pool.text_index is not None
    # No regrouping: row i is still memory 1000 + i with its own key and session neighbours.
    assert pool.rows.ids.tolist() == list(range(1000, 4000))
    assert np.allclose(pool.keys.numpy(), keys)
    assert pool.prev_row[11] == 10 and pool.prev_row[10] == -1
