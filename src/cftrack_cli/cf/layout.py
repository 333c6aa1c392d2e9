"""The common output grid of several feature layers, and the label on it.

Every layer's half-layout spectrum (see :mod:`cftrack_cli.cf.interpolation`) lives on one
continuous domain, so frequency ``k`` is the same frequency in every layer; a coarser layer
simply has fewer of them. :class:`LayerLayout` places each layer's spectrum on the largest
layer's grid (rows centred, columns from 0) and sums per-layer scores there; the label is a
Gaussian's Fourier series on that grid. ECO's and STRCF's filters share both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cftrack_cli.cf.interpolation import col_frequencies, row_frequencies

__all__ = ["LayerLayout", "gaussian_label_spectrum"]


def gaussian_label_spectrum(
    size: tuple[int, int], sigma: tuple[float, float], period: tuple[float, float]
) -> np.ndarray:
    """Half-layout Fourier coefficients of a periodic Gaussian of peak ~1 centred at 0.

    ``sigma`` and ``period`` in the same units, per axis (y, x).
    """
    out = []
    for n, freqs, s, t in zip(size, (row_frequencies, col_frequencies), sigma, period, strict=True):
        k = freqs(n)
        out.append(np.sqrt(2 * np.pi) * s / t * np.exp(-2.0 * (np.pi * s * k / t) ** 2))
    return np.outer(out[0], out[1]).astype(np.complex64)


class LayerLayout:
    """Where each layer's half-layout spectrum sits on the common output grid."""

    def __init__(self, sizes: Sequence[tuple[int, int]]) -> None:
        self.sizes = [(int(r), int(q)) for r, q in sizes]
        if any(r % 2 == 0 or r < 1 or q < 1 for r, q in self.sizes):
            raise ValueError(f"half-layout sizes need odd row counts, got {self.sizes}")
        self.output = (max(r for r, _ in self.sizes), max(q for _, q in self.sizes))
        self.row0 = [(self.output[0] - r) // 2 for r, _ in self.sizes]

    def crop(self, x: np.ndarray, layer: int) -> np.ndarray:
        r, q = self.sizes[layer]
        o = self.row0[layer]
        return x[..., o : o + r, :q]

    def pad_sum(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        lead = parts[0].shape[:-2]
        out = np.zeros((*lead, *self.output), dtype=np.result_type(*parts))
        for layer, part in enumerate(parts):
            self.crop(out, layer)[...] += part
        return out
