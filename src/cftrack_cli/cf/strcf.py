"""STRCF's filter (Li et al., "Learning Spatial-Temporal Regularized Correlation Filters for
Visual Tracking", CVPR 2018): one sample a frame, spatial and temporal regularisation, ADMM.

The filter ``f`` has one half-layout spectrum per layer (as ECO's, see
:mod:`cftrack_cli.cf.layout`): the score is ``sum_l pad(sum_c f_lc z_lc)``. Each frame it
minimises, over the full spectrum (Parseval),

    || sum_l pad(f_l . z_l) - y ||^2  +  (1/N_l) sum_l sum_j w_lj^2 f_l(t_j)^2
                                      +  mu || f - f_prev ||^2

with ``z`` the frame's sample, ``y`` the label, ``w`` the SRDCF-style spatial window
(:func:`~cftrack_cli.cf.regularization.reg_window`) on the ``N_l`` points ``t_j`` of a grid
that holds layer ``l``'s spectrum (:func:`grid_shape`), and ``f_prev`` the previous frame's
filter: the temporal term keeps the filter close to it, which stands in for a sample set (the
filter alone is the model's memory).

Layers may be split into blocks (``blocks``): each block minimises this objective alone, over
its own layers, and the score is the mean of the blocks' scores. The original fits its CNN
block apart from its hand-crafted block so; one block (the default) is the joint fit.

ADMM splits ``f = g`` (``h`` the Lagrange multiplier, ``gamma`` the penalty):

* ``f``: per frequency, ``(conj(z) z^T + (mu + gamma) I) f = conj(z) y + (mu + gamma) q`` with
  ``q = (mu f_prev + gamma g - h) / (mu + gamma)``; one rank-one term, so Sherman-Morrison
  gives ``f = q + conj(z) (y - z^T q) / (mu + gamma + |z|^2)``, ``z`` spanning the channels of
  every layer of the block at that frequency;
* ``g``: on each layer's grid, elementwise ``g = (gamma f + h) / (w^2 + gamma)``;
* ``h += gamma (f - g)``, then ``gamma = min(cap, step * gamma)``.

``g`` and ``h`` are grid values; the filter step sees their projection onto the filter's
frequencies (exact: the rest of the penalty does not depend on ``f``). A few iterations a
frame from ``g = h = 0``, as the original; the filter kept is ``f``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cftrack_cli.cf.fourier import irfft2_stack, rfft2_stack
from cftrack_cli.cf.interpolation import shift_phase
from cftrack_cli.cf.layout import LayerLayout

__all__ = [
    "ADMMSchedule",
    "STRCFFilter",
    "from_grid",
    "grid_points",
    "grid_shape",
    "to_grid",
]


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


def _fast_len(n: int) -> int:
    """The smallest length >= ``n`` whose only prime factors are 2, 3 and 5 (fast FFTs)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def grid_shape(size: tuple[int, int]) -> tuple[int, int]:
    """The grid the spatial step works on for a half-layout spectrum of ``size`` (rows, cols):
    at least ``rows`` x ``2 * cols - 1`` points (enough to hold the spectrum exactly), rounded
    up to fast FFT lengths (a 53-point axis, a prime, costs several times a 54-point one)."""
    return _fast_len(size[0]), _fast_len(2 * size[1] - 1)


def grid_points(size: tuple[int, int], period: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """The (ys, xs) of :func:`grid_shape`'s grid for a spectrum of ``size``, offset by half a
    step so the grid is symmetric about the period's centre (the target in a recentred
    sample)."""
    ny, nx = grid_shape(size)
    ys = (np.arange(ny) + 0.5) * (period[0] / ny)
    xs = (np.arange(nx) + 0.5) * (period[1] / nx)
    return ys, xs


def _half_step(size: tuple[int, int], period: tuple[float, float]) -> np.ndarray:
    ny, nx = grid_shape(size)
    return shift_phase(size, 0.5 * period[0] / ny, 0.5 * period[1] / nx, period)


def to_grid(
    f: np.ndarray, grid: tuple[int, int] | None = None, half_step: np.ndarray | None = None
) -> np.ndarray:
    """Values of the real function with half-layout coefficients ``f`` (..., rows, cols) on a
    ``grid`` (default: the smallest, rows x (2 cols - 1)); ``half_step``: phase factors that
    move the points by half a step (:func:`grid_points`)."""
    rows, cols = f.shape[-2:]
    ny, nx = grid or (rows, 2 * cols - 1)
    if half_step is not None:
        f = f * half_step
    k = rows // 2
    full = np.zeros((*f.shape[:-2], ny, nx // 2 + 1), dtype=f.dtype)
    # Frequencies 0..k go to the first rows, -k..-1 to the last (slices copy the same values
    # as fancy indexing did, for less).
    full[..., : k + 1, :cols] = f[..., k:, :]
    full[..., ny - k :, :cols] = f[..., :k, :]
    return irfft2_stack(full, (ny, nx), norm="forward")


def from_grid(
    g: np.ndarray, size: tuple[int, int] | None = None, half_step: np.ndarray | None = None
) -> np.ndarray:
    """The half-layout coefficients of ``size`` (default: all the grid holds) of grid values
    ``g``: the inverse of :func:`to_grid` on functions it can hold, the orthogonal projection
    onto them otherwise (the coefficients beyond ``size`` are dropped)."""
    ny, nx = g.shape[-2:]
    rows, cols = size or (ny - (1 - ny % 2), (nx + 1) // 2)
    k = rows // 2
    spec = rfft2_stack(g, norm="forward")
    f = np.concatenate([spec[..., ny - k :, :cols], spec[..., : k + 1, :cols]], axis=-2)
    if half_step is not None:
        f = f * np.conj(half_step)
    return f.astype(np.complex64, copy=False)


class STRCFFilter:
    """The filter of all layers and its per-frame ADMM (see the module notes).

    ``label``: half-layout coefficients on the output grid; ``windows``: per layer, the spatial
    window at that layer's :func:`grid_points`; ``period``: the continuous domain's (rows,
    columns) length.
    """

    def __init__(
        self,
        layer_sizes: Sequence[tuple[int, int]],
        label: np.ndarray,
        windows: Sequence[np.ndarray],
        period: tuple[float, float],
        schedule: ADMMSchedule,
        blocks: Sequence[int] | None = None,
        block_scale: Sequence[float] | None = None,
    ) -> None:
        self.layout = LayerLayout(layer_sizes)
        # Layers with the same block number are fitted to the label together; each block
        # alone, as the original fits its CNN block apart from the hand-crafted one.
        self.blocks = list(blocks) if blocks is not None else [0] * len(layer_sizes)
        if len(self.blocks) != len(layer_sizes):
            raise ValueError(f"{len(self.blocks)} block numbers for {len(layer_sizes)} layers")
        self._block_ids = sorted(set(self.blocks))
        # Per block (in block-number order), a factor on its penalties (mu, gamma; the windows
        # come scaled): the blocks' units may differ, as the original's do.
        scale = list(block_scale) if block_scale is not None else [1.0] * len(self._block_ids)
        if len(scale) != len(self._block_ids):
            raise ValueError(f"{len(scale)} penalty scales for {len(self._block_ids)} blocks")
        self._scale = dict(zip(self._block_ids, (float(x) for x in scale), strict=True))
        self._layer_scale = [self._scale[b] for b in self.blocks]
        if label.shape != self.layout.output:
            raise ValueError(f"label {label.shape} != output grid {self.layout.output}")
        self.grids = [grid_shape(s) for s in self.layout.sizes]
        for grid, w in zip(self.grids, windows, strict=True):
            if w.shape != grid:
                raise ValueError(f"window {w.shape} is not on the layer's grid {grid}")
        self.label = label.astype(np.complex64)
        self.window_sq = [np.square(w).astype(np.float32) for w in windows]
        self.schedule = schedule
        self._half_step = [_half_step(s, period) for s in self.layout.sizes]
        self.filters: list[np.ndarray] | None = None

    def scores(
        self, sample: Sequence[np.ndarray], filters: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """Half-layout coefficients of the score over ``sample`` (output grid), under this
        filter or under ``filters`` of the same shapes (e.g. an earlier copy)."""
        filters = self.filters if filters is None else filters
        assert filters is not None, "learn first"
        total = self.layout.pad_sum(
            [_channel_sum(f, z) for f, z in zip(filters, sample, strict=True)]
        )
        if len(self._block_ids) > 1:
            total /= len(self._block_ids)  # each block fits the label: keep its scale
        return total

    def block_scores(self, sample: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
        """Per block number, that block's own score over ``sample`` (output grid, half layout):
        what each block would localise alone. :meth:`scores` is their mean."""
        assert self.filters is not None, "learn first"
        return self._block_sums(
            [_channel_sum(f, z) for f, z in zip(self.filters, sample, strict=True)]
        )

    def learn(self, sample: Sequence[np.ndarray], mu: float) -> list[np.ndarray]:
        """One frame's ADMM on ``sample`` (per layer ``(C, rows, cols)``, the target at the
        centre) with temporal weight ``mu`` towards the current filter (none yet: zero)."""
        layout = self.layout
        previous = self.filters or [np.zeros_like(z) for z in sample]
        # Per frequency: the sample's energy over every layer's channels, and its conjugate.
        energy = self._block_sums([_channel_energy(z) for z in sample])
        zc = [np.conj(z) for z in sample]
        # g and the multiplier h live on the grids (the spatial step is exact there); the
        # filter step sees their projection onto the filter's frequencies. Both start at 0.
        g: list[np.ndarray] | None = None
        h: list[np.ndarray] | None = None
        penalties = self.schedule.penalties()
        f = previous
        for it, gamma_unit in enumerate(penalties):
            mus = [mu * s for s in self._layer_scale]
            gammas = [gamma_unit * s for s in self._layer_scale]
            cs = [m + gm for m, gm in zip(mus, gammas, strict=True)]
            # Products with 1 / c: numpy divides a complex array by a real one as by a complex
            # number, about 10x slower than the product here.
            if g is None or h is None:
                q = [(m / c) * p for m, c, p in zip(mus, cs, previous, strict=True)]
            else:
                q = [
                    (m * p + from_grid(gm * gl - hl, p.shape[-2:], step)) * (1.0 / c)
                    for m, gm, c, p, gl, hl, step in zip(
                        mus, gammas, cs, previous, g, h, self._half_step, strict=True
                    )
                ]
            fitted = self._block_sums(
                [_channel_sum(z, ql) for z, ql in zip(sample, q, strict=True)]
            )
            c_block = {b: (mu + gamma_unit) * self._scale[b] for b in fitted}
            gain = {b: (self.label - fitted[b]) * (1.0 / (c_block[b] + energy[b])) for b in fitted}
            f = [
                ql + a * layout.crop(gain[b], i)
                for i, (ql, a, b) in enumerate(zip(q, zc, self.blocks, strict=True))
            ]
            if it == len(penalties) - 1:
                break  # the filter kept is f: the last spatial step would go unused
            values = [
                to_grid(fl, grid, step)
                for fl, grid, step in zip(f, self.grids, self._half_step, strict=True)
            ]
            if h is None:
                h = [np.zeros_like(v) for v in values]
            g = [
                (gm * v + hl) / (wsq + gm)
                for gm, v, hl, wsq in zip(gammas, values, h, self.window_sq, strict=True)
            ]
            h = [hl + gm * (v - gl) for gm, hl, v, gl in zip(gammas, h, values, g, strict=True)]
        self.filters = [np.asarray(x, dtype=np.complex64) for x in f]
        return self.filters

    def _block_sums(self, parts: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
        """Per block, its layers' ``parts`` summed on the output grid."""
        if len(self._block_ids) == 1:
            return {self._block_ids[0]: self.layout.pad_sum(parts)}
        lead = parts[0].shape[:-2]
        dtype = np.result_type(*parts)
        out = {b: np.zeros((*lead, *self.layout.output), dtype=dtype) for b in self._block_ids}
        for layer, (part, b) in enumerate(zip(parts, self.blocks, strict=True)):
            self.layout.crop(out[b], layer)[...] += part
        return out


def _channel_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_c a_c * b_c`` over the leading (channel) axis (a product and a sum: numpy's
    complex einsum takes 2 to 4x as long at these sizes)."""
    return (a * b).sum(axis=0)


def _channel_energy(z: np.ndarray) -> np.ndarray:
    """``sum_c |z_c|^2`` over the leading (channel) axis, real."""
    return (np.square(z.real) + np.square(z.imag)).sum(axis=0)
