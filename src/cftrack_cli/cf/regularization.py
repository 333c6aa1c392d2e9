"""SRDCF-style spatial regularisation of a continuous filter.

The filter's energy is penalised by a window ``w(t)`` that is small on the target and grows
towards the edges of the sample: ``|| w f ||^2``. The window itself (:func:`reg_window`) is
shared: STRCF applies it elementwise to its filter sampled on a grid (:mod:`cftrack_cli.cf.
strcf`); ECO, below, in the Fourier domain, where ``w f`` is a convolution of the filter's
coefficients with the window's; a smooth window (a quadratic here, as ECO) has only a handful
of significant coefficients, so the rest are set to zero and the penalty costs a few shifted
multiply-adds per application.

The window is centred on the sample's centre (the target), in the coordinates whose origin is
the sample's top-left corner (see :mod:`cftrack_cli.cf.interpolation`).
"""

from __future__ import annotations

import numpy as np


def reg_window(
    ys: np.ndarray,
    xs: np.ndarray,
    target: tuple[float, float],
    min_value: float = 1e-4,
    edge_value: float = 1e-2,
    power: float = 2.0,
) -> np.ndarray:
    """The window's values ``(len(ys), len(xs))`` at points ``ys`` x ``xs`` relative to the
    target centre, in the units of ``target`` (its height, width):
    ``min + (edge - min) * (|y / (h/2)|^p + |x / (w/2)|^p)``, ``edge`` at the target's border.

    ECO applies it in the Fourier domain (:func:`reg_window_coefficients`), STRCF elementwise
    on its filter's grid.
    """
    sy, sx = 0.5 * target[0], 0.5 * target[1]
    return (edge_value - min_value) * (
        np.abs(ys[:, None] / sy) ** power + np.abs(xs[None, :] / sx) ** power
    ) + min_value


def reg_window_coefficients(
    support: tuple[int, int],
    target: tuple[float, float],
    min_value: float = 1e-4,
    edge_value: float = 1e-2,
    power: float = 2.0,
    sparsity: float = 0.05,
) -> np.ndarray:
    """Fourier coefficients (centred, odd-sized, real) of the sparse regularisation window.

    ``support``: the sample's (height, width) in pixels (the period); ``target``: the target's
    (height, width) in the same pixels. The window is :func:`reg_window` sampled at the pixel
    centres around the target centre; coefficients below ``sparsity`` times the largest
    are dropped and the constant term is corrected so the sparse window's minimum is ``min``.
    """
    ty, tx = support
    uy = np.arange(ty) + 0.5 - ty / 2.0  # pixel centres relative to the sample centre
    ux = np.arange(tx) + 0.5 - tx / 2.0
    window = reg_window(uy, ux, target, min_value, edge_value, power)
    # Pixel n sits at n + 1/2: that phase makes the coefficients of the symmetric window real.
    ky = np.fft.fftfreq(ty) * ty
    kx = np.fft.fftfreq(tx) * tx
    phase = np.outer(np.exp(-1j * np.pi * ky / ty), np.exp(-1j * np.pi * kx / tx))
    coef = (np.fft.fft2(window) * phase).real / (ty * tx)
    coef[np.abs(coef) < sparsity * np.abs(coef).max()] = 0.0
    sparse_window = np.fft.ifft2(coef / phase).real * (ty * tx)
    coef[0, 0] += min_value - sparse_window.min()
    coef = np.fft.fftshift(coef)
    rows = np.flatnonzero(np.any(coef != 0, axis=1))
    cols = np.flatnonzero(np.any(coef != 0, axis=0))
    cy, cx = ty // 2, tx // 2  # index of frequency 0 after fftshift
    ry = int(max(cy - rows.min(), rows.max() - cy))
    rx = int(max(cx - cols.min(), cols.max() - cx))
    return coef[cy - ry : cy + ry + 1, cx - rx : cx + rx + 1].astype(np.float32)


class SpatialRegularizer:
    """Applies ``W^H W`` (the regularisation's normal-equation term) to half-layout filters.

    ``W`` convolves a filter's Fourier coefficients with the window's; the result of the first
    convolution is not truncated, so the operator is exactly the penalty's Hessian. Negative
    ``kx`` columns a convolution needs come from Hermitian symmetry.
    """

    def __init__(self, coefficients: np.ndarray) -> None:
        coef = np.asarray(coefficients, dtype=np.float32)
        if coef.ndim != 2 or coef.shape[0] % 2 == 0 or coef.shape[1] % 2 == 0:
            raise ValueError(f"window coefficients must be 2-D and odd-sized, got {coef.shape}")
        self.coefficients = coef
        self.ry, self.rx = coef.shape[0] // 2, coef.shape[1] // 2
        #: Sum of squared coefficients (ECO's preconditioner uses it).
        self.energy = float(np.sum(coef.astype(np.float64) ** 2))
        iy, ix = np.nonzero(coef)
        self._taps = [
            (int(y) - self.ry, int(x) - self.rx, np.float32(coef[y, x]))
            for y, x in zip(iy, ix, strict=True)
        ]

    def _convolve(self, src: np.ndarray, out_rows: int, out_cols: int, row0: int, col0: int):
        """``out[i, j] = sum_taps c * src[row0 + i - dy, col0 + j - dx]``."""
        out = np.zeros((*src.shape[:-2], out_rows, out_cols), dtype=src.dtype)
        for dy, dx, c in self._taps:
            r, q = row0 - dy, col0 - dx
            out += c * src[..., r : r + out_rows, q : q + out_cols]
        return out

    def apply(self, hf: np.ndarray) -> np.ndarray:
        """``W^H W hf`` for half-layout filters ``(..., rows, cols)``."""
        rows, cols = hf.shape[-2:]
        ry, rx = self.ry, self.rx
        # Columns -2rx .. cols-1+2rx, rows padded by 2ry: enough for both convolutions.
        lead = hf.shape[:-2]
        ext = np.zeros((*lead, rows + 4 * ry, cols + 4 * rx), dtype=hf.dtype)
        ext[..., 2 * ry : 2 * ry + rows, 2 * rx : 2 * rx + cols] = hf
        m = min(2 * rx, cols - 1)
        if m > 0:  # f[ky, -kx] = conj(f[-ky, kx])
            mirror = np.conj(hf[..., ::-1, 1 : m + 1][..., ::-1])
            ext[..., 2 * ry : 2 * ry + rows, 2 * rx - m : 2 * rx] = mirror
        # g = W f on rows -ry.., cols -rx..cols-1+rx (in ext index offsets ry, rx)
        g = self._convolve(ext, rows + 2 * ry, cols + 2 * rx, ry, rx)
        # W^H = W (real, symmetric coefficients), then keep the filter's own support.
        return self._convolve(g, rows, cols, ry, rx)
