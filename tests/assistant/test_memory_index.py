"""The IVF path of the pool: same neighbours as exact search, rows regrouped consistently."""

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
    assert exact.layout is None and approximate.layout is not None
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


def test_regrouped_rows_keep_their_session_neighbours() -> None:
    keys = clustered_keys(3000)
    pool = MemoryPool(32, exact_limit=100)
    load(pool, keys)
    for row in range(0, 3000, 37):
        memory_id = int(pool.rows.ids[row])
        assert np.allclose(pool.keys[row].numpy(), keys[memory_id - 1000])
        prev_row = pool.prev_row[row]
        if (memory_id - 1000) % 10 == 0:
            assert prev_row == -1  # first turn of its session
        else:
            assert pool.rows.ids[prev_row] == memory_id - 1
            assert pool.next_row[prev_row] == row
