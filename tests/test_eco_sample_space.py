"""ECO's Gaussian-mixture sample space: weights, merging, Gram and distance bookkeeping."""

import numpy as np
import pytest

from cftrack_cli.cf.interpolation import half_inner
from cftrack_cli.cf.sample_space import SampleSpace

SHAPES = [(2, 5, 3), (1, 7, 4)]


def _sample(rng: np.random.Generator, centre: float = 0.0) -> list[np.ndarray]:
    return [
        (centre + rng.normal(size=s) + 1j * rng.normal(size=s)).astype(np.complex64) for s in SHAPES
    ]


def _weighted_mean(space: SampleSpace) -> list[np.ndarray]:
    samples, weights = space.active()
    return [np.tensordot(weights, s.astype(np.complex128), axes=(0, 0)) for s in samples]


def _inner(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return sum(
        half_inner(x.astype(np.complex128), y.astype(np.complex128))
        for x, y in zip(a, b, strict=True)
    )


def test_weights_always_sum_to_one_and_memory_is_bounded():
    rng = np.random.default_rng(0)
    space = SampleSpace(SHAPES, capacity=6, learning_rate=0.1)
    for i in range(60):
        space.add(_sample(rng, centre=float(i % 7)))
        _, weights = space.active()
        assert weights.sum() == pytest.approx(1.0, abs=1e-9)
        assert space.count == min(i + 1, 6)
        assert np.all(weights > 0)


def test_merging_preserves_total_weight_and_the_mixture_mean():
    rng = np.random.default_rng(1)
    lr = 0.2
    space = SampleSpace(SHAPES, capacity=4, learning_rate=lr)
    space.min_weight = 0.0  # only merges once full, no replacement of outdated components
    merges = 0
    for i in range(30):
        before = _weighted_mean(space) if space.count else None
        new = _sample(rng, centre=float(i % 5))
        merged, _ = space.add(new)
        _, weights = space.active()
        assert weights.sum() == pytest.approx(1.0, abs=1e-9)
        if merged >= 0:
            merges += 1
            # Merging moves mass between components, never creates or loses any: the mixture's
            # mean is exactly the learning-rate update of the old mean.
            expected = [(1 - lr) * m + lr * x for m, x in zip(before, new, strict=True)]
            for got, want in zip(_weighted_mean(space), expected, strict=True):
                np.testing.assert_allclose(got, want, atol=1e-5)
    assert merges > 10


def test_gram_and_distance_matrices_match_a_recomputation():
    rng = np.random.default_rng(2)
    space = SampleSpace(SHAPES, capacity=5, learning_rate=0.15)
    for i in range(40):
        space.add(_sample(rng, centre=float(i % 3)))
    samples, _ = space.active()
    comps = [[s[i] for s in samples] for i in range(space.count)]
    gram = np.array([[_inner(a, b) for b in comps] for a in comps])
    np.testing.assert_allclose(space.gram[: space.count, : space.count], gram, rtol=1e-4)
    dist = np.diag(gram)[:, None] + np.diag(gram)[None, :] - 2 * gram
    np.fill_diagonal(dist, np.inf)
    np.testing.assert_allclose(
        space.distance[: space.count, : space.count], dist, rtol=1e-3, atol=1e-3
    )


def test_outdated_component_is_replaced():
    rng = np.random.default_rng(3)
    space = SampleSpace(SHAPES, capacity=3, learning_rate=0.3)
    space.min_weight = 0.25  # weights are now 0.49, 0.21, 0.3: the second is outdated
    for _ in range(3):
        space.add(_sample(rng))
    lightest = int(np.argmin(space.weights))
    merged, new = space.add(_sample(rng, centre=50.0))
    assert (merged, new) == (-1, lightest)
    assert space.weights[lightest] == pytest.approx(0.3)


def test_replace_keeps_weights_and_refreshes_gram():
    rng = np.random.default_rng(4)
    space = SampleSpace(SHAPES, capacity=3, learning_rate=0.1)
    space.add(_sample(rng))
    space.add(_sample(rng))
    other = _sample(rng, centre=3.0)
    space.replace(0, other)
    assert space.gram[0, 0] == pytest.approx(_inner(other, other), rel=1e-5)
    assert space.weights[:2].sum() == pytest.approx(1.0)
    with pytest.raises(IndexError):
        space.replace(2, other)
