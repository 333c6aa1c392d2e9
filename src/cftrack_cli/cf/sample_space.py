"""ECO's generative sample space: a Gaussian mixture of past training samples.

Every frame adds one sample (the target-centred, projected Fourier coefficients of all feature
layers). Memory holds at most ``capacity`` components, each a mean sample with a prior weight;
the newest sample always gets weight ``learning_rate`` and the older ones decay by
``1 - learning_rate``, so the weights sum to one. When memory is full the new sample either

1. replaces a component whose weight fell below ``learning_rate * (1 - lr)^(2 capacity)``,
2. merges into its nearest component, when that is closer than any two components are, or
3. takes the place freed by merging the two closest components.

Merging averages means by weight. Squared distances come from a Gram matrix of inner products
kept up to date with each change, so a frame costs one inner product per component.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cftrack_cli.cf.interpolation import half_weights


class SampleSpace:
    """The mixture's components: ``samples[layer][i]`` and ``weights[i]`` for ``i < count``.

    ``shapes`` gives each layer's sample shape ``(channels, rows, cols)`` in the half layout of
    :mod:`cftrack_cli.cf.interpolation`; distances are taken over the full spectrum.
    """

    def __init__(
        self,
        shapes: Sequence[tuple[int, ...]],
        capacity: int = 30,
        learning_rate: float = 0.009,
        dtype: type = np.complex64,
    ) -> None:
        if capacity < 2:
            raise ValueError("the sample space needs room for at least 2 components")
        if not 0 < learning_rate < 1:
            raise ValueError("learning_rate must lie in (0, 1)")
        self.capacity = capacity
        self.learning_rate = learning_rate
        self.samples = [np.zeros((capacity, *shape), dtype=dtype) for shape in shapes]
        self._col_weights = [half_weights(shape[-1]) for shape in shapes]
        self.weights = np.zeros(capacity)
        self.count = 0
        self.gram = np.zeros((capacity, capacity))
        self.distance = np.full((capacity, capacity), np.inf)
        #: Components lighter than this are replaced first (ECO's outdated-sample rule).
        self.min_weight = learning_rate * (1 - learning_rate) ** (2 * capacity)

    # -- inner products ---------------------------------------------------------------------
    def _gram_vector(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        """Inner products of ``sample`` with every stored component (full-spectrum, real)."""
        g = np.zeros(self.capacity)
        for stored, x, w in zip(self.samples, sample, self._col_weights, strict=True):
            xw = (np.conj(x) * w).ravel()
            g += (stored.reshape(self.capacity, -1) @ xw).real
        return g

    def _norm2(self, sample: Sequence[np.ndarray]) -> float:
        return float(
            sum(
                np.sum((x.real**2 + x.imag**2) * w)
                for x, w in zip(sample, self._col_weights, strict=True)
            )
        )

    def _refresh_distances(self, i: int) -> None:
        d = np.maximum(self.gram[i, i] + np.diag(self.gram) - 2.0 * self.gram[:, i], 0.0)
        d[self.count :] = np.inf
        d[i] = np.inf
        self.distance[:, i] = d
        self.distance[i, :] = d

    def _put(self, i: int, sample: Sequence[np.ndarray], gram_vector: np.ndarray, norm2: float):
        for stored, x in zip(self.samples, sample, strict=True):
            stored[i] = x
        self.gram[:, i] = gram_vector
        self.gram[i, :] = gram_vector
        self.gram[i, i] = norm2

    # -- the update ---------------------------------------------------------------------------
    def add(self, sample: Sequence[np.ndarray]) -> tuple[int, int]:
        """Insert a new sample. Returns (merged component or -1, new component or -1)."""
        lr = self.learning_rate
        gram_vector = self._gram_vector(sample)
        norm2 = self._norm2(sample)
        n = self.count
        if n < self.capacity:  # room left: a new component
            if n == 0:
                self.weights[0] = 1.0
            else:
                self.weights[:n] *= 1 - lr
                self.weights[n] = lr
            self.count = n + 1
            self._put(n, sample, gram_vector, norm2)
            self._refresh_distances(n)
            return -1, n

        lightest = int(np.argmin(self.weights))
        if self.weights[lightest] < self.min_weight:  # 1: replace an outdated component
            self.weights[lightest] = 0.0
            self.weights *= (1 - lr) / self.weights.sum()
            self.weights[lightest] = lr
            self._put(lightest, sample, gram_vector, norm2)
            self._refresh_distances(lightest)
            return -1, lightest

        to_new = np.maximum(norm2 + np.diag(self.gram) - 2.0 * gram_vector, 0.0)
        nearest = int(np.argmin(to_new))
        pair = np.unravel_index(int(np.argmin(self.distance)), self.distance.shape)
        self.weights *= 1 - lr
        if to_new[nearest] < self.distance[pair]:  # 2: merge the new sample into its nearest
            w_old = self.weights[nearest]
            a = w_old / (w_old + lr)
            for stored, x in zip(self.samples, sample, strict=True):
                stored[nearest] = a * stored[nearest] + (1 - a) * x
            old_norm2 = self.gram[nearest, nearest]
            column = a * self.gram[:, nearest] + (1 - a) * gram_vector
            column[nearest] = (
                a * a * old_norm2 + (1 - a) ** 2 * norm2 + 2 * a * (1 - a) * gram_vector[nearest]
            )
            self.gram[:, nearest] = column
            self.gram[nearest, :] = column
            self.weights[nearest] += lr
            self._refresh_distances(nearest)
            return nearest, -1

        # 3: merge the two closest components; the new sample takes the freed slot
        keep, free = int(pair[0]), int(pair[1])
        if self.weights[free] > self.weights[keep]:
            keep, free = free, keep
        w1, w2 = self.weights[keep], self.weights[free]
        a = w1 / (w1 + w2)
        for stored in self.samples:
            stored[keep] = a * stored[keep] + (1 - a) * stored[free]
        g = self.gram
        merged_norm2 = (
            a * a * g[keep, keep] + (1 - a) ** 2 * g[free, free] + 2 * a * (1 - a) * g[keep, free]
        )
        column = a * g[:, keep] + (1 - a) * g[:, free]
        column[keep] = merged_norm2
        gram_vector = gram_vector.copy()
        gram_vector[keep] = a * gram_vector[keep] + (1 - a) * gram_vector[free]
        g[:, keep] = column
        g[keep, :] = column
        self._put(free, sample, gram_vector, norm2)
        self.weights[keep] = w1 + w2
        self.weights[free] = lr
        self._refresh_distances(keep)
        self._refresh_distances(free)
        return keep, free

    def replace(self, index: int, sample: Sequence[np.ndarray]) -> None:
        """Overwrite component ``index`` (weight unchanged), e.g. after re-projecting it."""
        if not 0 <= index < self.count:
            raise IndexError(f"component {index} does not exist")
        gram_vector = self._gram_vector(sample)
        norm2 = self._norm2(sample)
        self._put(index, sample, gram_vector, norm2)
        self._refresh_distances(index)

    def active(self) -> tuple[list[np.ndarray], np.ndarray]:
        """The stored components (views) and their prior weights, ``count`` of each."""
        n = self.count
        return [s[:n] for s in self.samples], self.weights[:n]
