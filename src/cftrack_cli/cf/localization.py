"""Finding the maximum of a continuous score given by its Fourier series (ECO's detection).

The score ``s(t)`` is known through half-layout coefficients (see
:mod:`cftrack_cli.cf.interpolation`), so it can be evaluated, and differentiated, anywhere.
A grid search on the sampled score gives the starting point; Newton's method on the exact
gradient and Hessian then refines it to sub-sample precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cftrack_cli.cf.interpolation import col_frequencies, half_weights, row_frequencies, sample_grid


@dataclass(frozen=True)
class Peak:
    """The maximum found: displacement as a fraction of the period per axis, in [-1/2, 1/2)."""

    dy: float
    dx: float
    value: float  # the score there
    grid: np.ndarray  # the score sampled on its grid (index 0 = no displacement), for confidence


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def maximize_score(sf: np.ndarray, iterations: int = 5) -> Peak:
    """The maximum of the real function with half-layout coefficients ``sf`` (rows, cols)."""
    sf = np.asarray(sf, dtype=np.complex128)
    rows, cols = sf.shape
    grid = sample_grid(sf)
    ny, nx = grid.shape
    iy, ix = np.unravel_index(int(np.argmax(grid)), grid.shape)
    best = float(grid[iy, ix])
    u0, v0 = 2 * np.pi * iy / ny, 2 * np.pi * ix / nx
    ky = row_frequencies(rows).astype(np.float64)
    kx = col_frequencies(cols).astype(np.float64)
    s = sf * half_weights(cols)[None, :]  # Re(e_y^T s e_x) is the score, columns folded

    def terms(u: float, v: float) -> tuple[np.ndarray, np.ndarray]:
        return np.exp(1j * ky * u), np.exp(1j * kx * v)

    u, v = u0, v0
    for _ in range(iterations):
        ey, ex = terms(u, v)
        s_ex, s_dex = s @ ex, s @ (1j * kx * ex)
        gy = (1j * ky * ey) @ s_ex
        gx = ey @ s_dex
        hyy = (-(ky**2) * ey) @ s_ex
        hxx = ey @ (s @ (-(kx**2) * ex))
        hxy = (1j * ky * ey) @ s_dex
        g = np.array([gy.real, gx.real])
        h = np.array([[hyy.real, hxy.real], [hxy.real, hxx.real]])
        det = h[0, 0] * h[1, 1] - h[0, 1] ** 2
        if not (det > 0 and h[0, 0] < 0):  # not locally concave: Newton would not climb
            break
        step = np.linalg.solve(h, g)
        u, v = u - step[0], v - step[1]
        if abs(step[0]) + abs(step[1]) < 1e-9:
            break
    ey, ex = terms(u, v)
    value = float((ey @ s @ ex).real)
    if not np.isfinite(value) or value < best:  # keep the grid maximum if Newton went astray
        u, v, value = u0, v0, best
    return Peak(_wrap(u) / (2 * np.pi), _wrap(v) / (2 * np.pi), value, grid)


def score_at(sf: np.ndarray, dy: float, dx: float) -> float:
    """The real function with half-layout coefficients ``sf`` at displacement ``(dy, dx)``
    (fractions of the period, as :class:`Peak` gives them)."""
    sf = np.asarray(sf, dtype=np.complex128)
    rows, cols = sf.shape
    ey = np.exp(2j * np.pi * dy * row_frequencies(rows))
    ex = np.exp(2j * np.pi * dx * col_frequencies(cols))
    return float((ey @ (sf * half_weights(cols)[None, :]) @ ex).real)


def peak_sharpness(grid: np.ndarray, peak: float) -> float:
    """APCE of a sampled score: ``(max - min)^2 / mean((s - min)^2)``; large when one sharp peak."""
    low = float(grid.min())
    spread = float(np.mean((grid - low) ** 2))
    return (peak - low) ** 2 / spread if spread > 0 else 0.0
