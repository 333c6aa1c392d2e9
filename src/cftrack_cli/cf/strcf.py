"""STRCF's filter (Li et al., "Learning Spatial-Temporal Regularized Correlation Filters for
Visual Tracking", CVPR 2018): one sample a frame, spatial and temporal regularisation, ADMM.

The filter ``f`` has one half-layout spectrum per layer (as ECO's, see
:mod:`cftrack_cli.cf.layout`): the score is ``sum_l pad(sum_c f_lc z_lc)``. Each frame it
minimises, over the full spectrum (Parseval),

    || sum_l pad(f_l . z_l) - y ||^2  +  (1/N_l) sum_l sum_j w_lj^2 f_l(t_j)^2
                                      +  mu || f - f_prev ||^2

with ``z`` the frame's sample, ``y`` the label, ``w`` the SRDCF-style spatial window
(:func:`~cftrack_cli.cf.regularization.reg_window`) on the ``N_l`` points ``t_j`` of a grid
that holds layer ``l``'s spectrum exactly, and ``f_prev`` the previous frame's filter: the
temporal term keeps the filter close to it, which stands in for a sample set (the filter alone
is the model's memory).

ADMM splits ``f = g`` (``h`` the Lagrange multiplier, ``gamma`` the penalty):

* ``f``: per frequency, ``(conj(z) z^T + (mu + gamma) I) f = conj(z) y + (mu + gamma) q`` with
  ``q = (mu f_prev + gamma g - h) / (mu + gamma)``; one rank-one term, so Sherman-Morrison
  gives ``f = q + conj(z) (y - z^T q) / (mu + gamma + |z|^2)``, ``z`` spanning every layer's
  channels at that frequency;
* ``g``: on each layer's grid, elementwise ``g = (gamma f + h) / (w^2 + gamma)``;
* ``h += gamma (f - g)``, then ``gamma = min(cap, step * gamma)``.

A few iterations a frame from ``g = h = 0``, as the original; the filter kept is ``f``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cftrack_cli.cf.interpolation import shift_phase
from cftrack_cli.cf.layout import LayerLayout

__all__ = ["ADMMSchedule", "STRCFFilter", "from_grid", "grid_points", "to_grid"]


@dataclass(frozen=True)
class ADMMSchedule:
    """How one frame's ADMM runs: ``iterations``, the penalty ``gamma`` starting at ``init``
    and multiplied by ``step`` after each iteration, never above ``cap``."""

    iterations: int = 2
    init: float = 1.0
    step: float = 10.0
    cap: float = 0.1

    def penalties(self) -> list[float]:
        out, gamma = [], self.init
        for _ in range(self.iterations):
            out.append(gamma)
            gamma = min(self.cap, self.step * gamma)
        return out


def grid_points(size: tuple[int, int], period: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """The (ys, xs) where :func:`to_grid` samples a half-layout spectrum of ``size`` (rows, cols):
    ``(2 * cols - 1)`` x ``rows`` points, offset by half a step so the grid is symmetric
    about the period's centre (the target's place in a recentred sample)."""
    ny, nx = size[0], 2 * size[1] - 1
    ys = (np.arange(ny) + 0.5) * (period[0] / ny)
    xs = (np.arange(nx) + 0.5) * (period[1] / nx)
    return ys, xs


def _half_step(size: tuple[int, int], period: tuple[float, float]) -> np.ndarray:
    ny, nx = size[0], 2 * size[1] - 1
    return shift_phase(size, 0.5 * period[0] / ny, 0.5 * period[1] / nx, period)


def to_grid(f: np.ndarray, half_step: np.ndarray | None = None) -> np.ndarray:
    """The real function with half-layout coefficients ``f`` (..., rows, cols) at the points
    of :func:`grid_points` (``half_step``: that grid's phase factors, :func:`_half_step`)."""
    rows, cols = f.shape[-2:]
    if half_step is not None:
        f = f * half_step
    return np.fft.irfft2(np.fft.ifftshift(f, axes=-2), s=(rows, 2 * cols - 1), norm="forward")


def from_grid(g: np.ndarray, half_step: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`to_grid`: half-layout coefficients of grid values (..., rows, 2c-1)."""
    f = np.fft.fftshift(np.fft.rfft2(g, norm="forward"), axes=-2)
    if half_step is not None:
        f = f * np.conj(half_step)
    return f.astype(np.complex64, copy=False)


class STRCFFilter:
    """The filter of all layers and its per-frame ADMM (see the module notes).

    ``label``: half-layout coefficients on the output grid; ``windows``: per layer, the spatial
    window on that layer's :func:`grid_points` ``(rows, 2 * cols - 1)``; ``period``: the
    continuous domain's (rows, columns) length.
    """

    def __init__(
        self,
        layer_sizes: Sequence[tuple[int, int]],
        label: np.ndarray,
        windows: Sequence[np.ndarray],
        period: tuple[float, float],
        schedule: ADMMSchedule,
    ) -> None:
        self.layout = LayerLayout(layer_sizes)
        if label.shape != self.layout.output:
            raise ValueError(f"label {label.shape} != output grid {self.layout.output}")
        for (r, q), w in zip(self.layout.sizes, windows, strict=True):
            if w.shape != (r, 2 * q - 1):
                raise ValueError(f"window {w.shape} does not fit a {r}x{q} spectrum's grid")
        self.label = label.astype(np.complex64)
        self.window_sq = [np.square(w, dtype=np.float64) for w in windows]
        self.schedule = schedule
        self._half_step = [_half_step(s, period) for s in self.layout.sizes]
        self.filters: list[np.ndarray] | None = None

    def scores(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        """Half-layout coefficients of the score over ``sample`` (output grid)."""
        assert self.filters is not None, "learn first"
        return self.layout.pad_sum(
            [_channel_sum(f, z) for f, z in zip(self.filters, sample, strict=True)]
        )

    def learn(self, sample: Sequence[np.ndarray], mu: float) -> list[np.ndarray]:
        """One frame's ADMM on ``sample`` (per layer ``(C, rows, cols)``, the target at the
        centre) with temporal weight ``mu`` towards the current filter (none yet: zero)."""
        layout = self.layout
        previous = self.filters or [np.zeros_like(z) for z in sample]
        # Per frequency: the sample's energy over every layer's channels, and its conjugate.
        energy = layout.pad_sum(
            [_channel_sum(z.real, z.real) + _channel_sum(z.imag, z.imag) for z in sample]
        )
        zc = [np.conj(z) for z in sample]
        g = [np.zeros_like(z) for z in sample]
        h = [np.zeros_like(z) for z in sample]  # the dual (unscaled: it keeps across gammas)
        f = previous
        for gamma in self.schedule.penalties():
            c = mu + gamma
            q = [(mu * p + gamma * gl - hl) / c for p, gl, hl in zip(previous, g, h, strict=True)]
            fitted = layout.pad_sum([_channel_sum(z, ql) for z, ql in zip(sample, q, strict=True)])
            gain = (self.label - fitted) / (c + energy)
            f = [ql + a * layout.crop(gain, i) for i, (ql, a) in enumerate(zip(q, zc, strict=True))]
            for i, (fl, hl) in enumerate(zip(f, h, strict=True)):
                v = to_grid(gamma * fl + hl, self._half_step[i])
                g[i] = from_grid(v / (self.window_sq[i] + gamma), self._half_step[i])
                h[i] = hl + gamma * (fl - g[i])
        self.filters = [np.asarray(x, dtype=np.complex64) for x in f]
        return self.filters


def _channel_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_c a_c * b_c`` over the leading (channel) axis."""
    return np.einsum("chw,chw->hw", a, b)
