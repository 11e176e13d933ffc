"""The pool's learned parts without a database: saved state and its compatibility with older
states, the numpy and torch scoring paths, the gate and residual, and the cosine statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assistant.memory.pool import DEFAULT_WEIGHTS, FEATURES, MemoryPool


def test_pool_learned_state_round_trips_and_resets() -> None:
    pool = MemoryPool(8)
    assert pool.feature_weights() == pytest.approx(DEFAULT_WEIGHTS)
    with torch.no_grad():
        pool.scorer.weight.add_(0.5)
        pool.adapter.weight.mul_(2.0)
    state = pool.learned_state()
    other = MemoryPool(8)
    other.load_learned_state(state)
    assert torch.equal(other.adapter.weight, pool.adapter.weight)
    assert other.feature_weights() == pytest.approx(pool.feature_weights())
    other.reset_learning()
    assert torch.equal(other.adapter.weight, torch.eye(8))


def test_numpy_inference_path_matches_the_torch_modules() -> None:
    pool = MemoryPool(8)
    with torch.no_grad():  # arbitrary learned-looking weights
        generator = torch.Generator().manual_seed(3)
        for parameter in pool.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    features = torch.randn(30, len(FEATURES), generator=generator)
    query = torch.nn.functional.normalize(torch.randn(8, generator=generator), dim=0)
    with torch.no_grad():
        assert np.allclose(
            pool.score_array(features.numpy()), pool.score(features).numpy(), atol=1e-5
        )
        assert np.allclose(
            pool.score_array(features.numpy(), query.numpy()),
            pool.score(features, query).numpy(),
            atol=1e-5,
        )
        assert np.allclose(
            pool.adapt_array(query.numpy()), pool.adapt(query[None])[0].numpy(), atol=1e-6
        )


def test_residual_scorer_starts_silent_and_round_trips() -> None:
    import io

    pool = MemoryPool(8)
    features = torch.randn(20, len(FEATURES))
    weights = torch.tensor([DEFAULT_WEIGHTS[f] for f in FEATURES])
    # Untrained: exactly the hand-set weighted sum.
    assert torch.allclose(pool.score(features), features @ weights)
    with torch.no_grad():
        pool.residual[2].weight.fill_(0.3)
    changed = pool.score(features)
    assert not torch.allclose(changed, features @ weights)
    other = MemoryPool(8)
    other.load_learned_state(pool.learned_state())
    assert torch.allclose(other.score(features), changed)
    # A state saved before the residual existed loads with the residual silent.
    buffer = io.BytesIO()
    torch.save({"adapter": pool.adapter.state_dict(), "scorer": pool.scorer.state_dict()}, buffer)
    old = MemoryPool(8)
    old.load_learned_state(buffer.getvalue())
    assert torch.allclose(old.score(features), features @ weights)
    # Reset is the same starting point every time.
    pool.reset_learning()
    assert torch.equal(pool.residual[0].weight, MemoryPool(8).residual[0].weight)
    assert torch.allclose(pool.score(features), features @ weights)


def test_the_gate_shifts_feature_weights_by_query_and_round_trips() -> None:
    import io

    pool = MemoryPool(8)
    features = torch.randn(20, len(FEATURES))
    weights = torch.tensor([DEFAULT_WEIGHTS[f] for f in FEATURES])
    query = torch.nn.functional.normalize(torch.randn(8), dim=0)
    # Untrained: the gate adds nothing, whatever the query.
    assert torch.allclose(pool.score(features, query), features @ weights)
    assert pool.is_silent("length")
    column = FEATURES.index("length")
    with torch.no_grad():
        pool.gate.weight[column] = 2.0 * query  # "length" matters for queries like this one
    shifted = weights.clone()
    shifted[column] += 2.0
    assert torch.allclose(pool.score(features, query), features @ shifted, atol=1e-5)
    assert np.allclose(pool.weights_array(query.numpy()), shifted.numpy(), atol=1e-6)
    assert np.allclose(pool.weights_array(-query.numpy())[column], -2.0, atol=1e-6)
    assert torch.allclose(pool.score(features), features @ weights)  # no query, no gate
    assert not pool.is_silent("length")  # a query can give it a say
    other = MemoryPool(8)
    other.load_learned_state(pool.learned_state())
    assert torch.equal(other.gate.weight, pool.gate.weight)
    # A state saved before the gate existed loads with it at zero.
    buffer = io.BytesIO()
    torch.save(
        {
            "adapter": pool.adapter.state_dict(),
            "scorer": pool.scorer.state_dict(),
            "residual": pool.residual.state_dict(),
        },
        buffer,
    )
    other.load_learned_state(buffer.getvalue())
    assert not other.gate.weight.any()
    # One saved with fewer features keeps its rows; the new features' rows are zero.
    buffer = io.BytesIO()
    torch.save(
        {
            "adapter": pool.adapter.state_dict(),
            "scorer": {"weight": pool.scorer.weight[:, :-1], "bias": pool.scorer.bias},
            "gate": {"weight": pool.gate.weight[:-1]},
        },
        buffer,
    )
    other.load_learned_state(buffer.getvalue())
    assert torch.equal(other.gate.weight[:-1], pool.gate.weight[:-1])
    assert not other.gate.weight[-1].any()
    pool.reset_learning()
    assert not pool.gate.weight.any()


def test_features_and_default_weights_agree() -> None:
    assert set(DEFAULT_WEIGHTS) == set(FEATURES)


def test_new_features_load_into_older_saved_states_with_their_default_weights() -> None:
    import io

    assert DEFAULT_WEIGHTS["dense_unnamed"] == DEFAULT_WEIGHTS["length"] == 0.0
    assert DEFAULT_WEIGHTS["dense_sentence"] == 1.0
    old_count = FEATURES.index("dense_unnamed")  # the features saved states had before these
    sentence = FEATURES.index("dense_sentence")
    trained = MemoryPool(8)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(5)
        for parameter in trained.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    # An older state: the same weights over the older features only.
    residual = dict(trained.residual.state_dict())
    residual["0.weight"] = residual["0.weight"][:, :old_count]
    buffer = io.BytesIO()
    torch.save(
        {
            "adapter": trained.adapter.state_dict(),
            "scorer": {
                "weight": trained.scorer.weight.detach()[:, :old_count],
                "bias": trained.scorer.bias.detach(),
            },
            "residual": residual,
        },
        buffer,
    )
    loaded = MemoryPool(8)
    loaded.load_learned_state(buffer.getvalue())
    weights = loaded.feature_weights()
    assert weights["dense_unnamed"] == weights["length"] == 0.0
    assert weights["dense_sentence"] == 1.0
    old_features = torch.randn(10, old_count, generator=generator)
    new_features = torch.randn(10, len(FEATURES) - old_count)
    with_new = torch.cat([old_features, new_features], 1)
    without_new = torch.cat([old_features, torch.zeros(10, len(FEATURES) - old_count)], 1)
    with torch.no_grad():
        # The zero-weight columns change nothing; dense_sentence adds itself (weight 1, and no
        # path through the residual); the old columns score as they were trained.
        assert torch.allclose(
            loaded.score(with_new) - loaded.score(without_new), with_new[:, sentence], atol=1e-5
        )
        first = trained.residual[0].weight[:, :old_count]
        hidden = torch.tanh(old_features @ first.T + trained.residual[0].bias)
        expected = (
            old_features @ trained.scorer.weight[0, :old_count]
            + trained.scorer.bias
            + trained.residual[2](hidden)[:, 0]
        )
        assert torch.allclose(loaded.score(without_new), expected, atol=1e-5)


def test_dense_statistics_are_the_mean_and_spread_of_the_pool_cosines() -> None:
    rng = np.random.default_rng(3)

    def unit(count: int, dim: int) -> np.ndarray:
        vectors = rng.standard_normal((count, dim)).astype(np.float32) + 0.3
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    for count in (1, 300, 9000):  # a single row, every row sampled, every 4th row sampled
        text, window = unit(count, 16), unit(count, 16)
        pool = MemoryPool(16)
        pool.load_rows(
            list(range(count)),
            [None] * count,
            [""] * count,
            ["imported"] * count,
            [False] * count,
            [0] * count,
            text,
            window,
        )
        query = unit(1, 16)[0]
        text_mean, text_std, window_mean, window_std = pool.dense_statistics(
            torch.from_numpy(query)
        )
        cosines, window_cosines = text @ query, window @ query
        # Exact when every row is sampled; close to the whole pool's when one in four is.
        tolerance = 1e-5 if count <= 2048 else 0.02
        assert text_mean == pytest.approx(float(cosines.mean()), abs=tolerance)
        assert window_mean == pytest.approx(float(window_cosines.mean()), abs=tolerance)
        if count == 1:  # no spread: 1, so z-scores stay finite
            assert (text_std, window_std) == (1.0, 1.0)
        else:
            assert text_std == pytest.approx(float(cosines.std()), rel=tolerance)
            assert window_std == pytest.approx(float(window_cosines.std()), rel=tolerance)
