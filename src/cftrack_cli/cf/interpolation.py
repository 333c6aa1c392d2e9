"""Feature maps as continuous functions: C-COT/ECO interpolation in the Fourier domain.

A feature map of ``n`` samples along an axis becomes a function on one continuous period
``[0, T)`` by placing a cubic interpolation kernel, stretched to the sample spacing ``T / n``,
on every sample. Its Fourier series coefficients are the samples' DFT times the kernel's
Fourier transform: ``X[k] * B(k / n) / n * exp(-i pi k / n)``; the phase puts sample ``j`` at
``(j + 1/2) T / n``, the centre of its cell. Layers of different resolution thus share one
domain: frequency ``k`` means ``k / T`` whatever the layer.

Spectra here use the *half layout*: the last two axes are ``(2 * ky_max + 1, kx_max + 1)``,
rows are frequencies ``-ky_max .. ky_max`` (centred), columns ``0 .. kx_max``. Real functions
need no negative ``kx``; column 0 counts once in sums over the spectrum, the others twice. An
even-sized axis has coefficients at both ``+n/2`` and ``-n/2`` (the DFT's Nyquist term, seen
through the kernel's transform and the centring phase at each end): the interpolant's exact
coefficients there.
"""

from __future__ import annotations

import functools

import numpy as np

from cftrack_cli.cf.fourier import rfft2_stack


def cubic_kernel(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Keys' cubic convolution kernel (support ``|t| < 2``); ``a = -0.75`` as ECO uses."""
    t = np.abs(np.asarray(t, dtype=np.float64))
    inner = ((a + 2) * t - (a + 3)) * t * t + 1
    outer = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, inner, np.where(t < 2, outer, 0.0))


def cubic_kernel_fourier(f: np.ndarray, a: float = -0.75) -> np.ndarray:
    """The kernel's Fourier transform ``B(f) = integral b(t) exp(-2 pi i f t) dt`` (real, even).

    Closed form of the piecewise-cubic integral, with ``w = 2 pi f``:
    ``4 (6 (1 - cos w) + 3a (1 - cos 2w) - (3 + 4a) w sin w - a w sin 2w) / w^4``.
    """
    w = 2.0 * np.pi * np.asarray(f, dtype=np.float64)
    small = np.abs(w) < 1e-3  # the numerator cancels to O(w^4) there; B -> 1
    ws = np.where(small, 1.0, w)
    num = (
        6.0 * (1.0 - np.cos(ws))
        + 3.0 * a * (1.0 - np.cos(2.0 * ws))
        - (3.0 + 4.0 * a) * ws * np.sin(ws)
        - a * ws * np.sin(2.0 * ws)
    )
    return np.where(small, 1.0, 4.0 * num / ws**4)


def half_size(shape: tuple[int, int]) -> tuple[int, int]:
    """Half-layout spectrum size of an ``(h, w)`` map: ``(2 * (h // 2) + 1, w // 2 + 1)``."""
    h, w = shape
    return 2 * (h // 2) + 1, w // 2 + 1


def row_frequencies(n_rows: int) -> np.ndarray:
    """Frequencies of the rows of a half-layout spectrum with ``n_rows`` (odd) rows."""
    k = n_rows // 2
    return np.arange(-k, k + 1)


def col_frequencies(n_cols: int) -> np.ndarray:
    """Frequencies of the columns of a half-layout spectrum: ``0 .. n_cols - 1``."""
    return np.arange(n_cols)


def interpolation_coefficients_1d(n: int, a: float = -0.75, centering: bool = True) -> np.ndarray:
    """Interpolation Fourier coefficients along an axis of ``n`` samples, ``k = -n//2 .. n//2``."""
    k = np.arange(-(n // 2), n // 2 + 1)
    coef = cubic_kernel_fourier(k / n, a) / n
    if centering:
        coef = coef * np.exp(-1j * np.pi * k / n)
    return coef.astype(np.complex128)


@functools.lru_cache(maxsize=64)
def interpolation_grid(
    shape: tuple[int, int], a: float = -0.75, centering: bool = True
) -> np.ndarray:
    """Half-layout (rows, cols) complex64 weights: a map's spectrum -> its interpolant's."""
    h, w = shape
    wy = interpolation_coefficients_1d(h, a, centering)
    wx = interpolation_coefficients_1d(w, a, centering)[w // 2 :]
    grid = np.outer(wy, wx).astype(np.complex64)
    grid.setflags(write=False)
    return grid


@functools.lru_cache(maxsize=64)
def _row_index(h: int) -> np.ndarray:
    k = h // 2
    return np.arange(-k, k + 1) % h


def half_spectrum(x: np.ndarray) -> np.ndarray:
    """DFT of real maps ``(..., h, w)`` in the half layout (unnormalised, as ``rfft2``).

    For an even ``h`` the Nyquist row appears at both ends.
    """
    h = x.shape[-2]
    # torch's FFT: faster than numpy's on every layer's stack the trackers make, one channel
    # to 64 (benchmarks/array_ops.py); int input is transformed as float64, as numpy's
    spec = rfft2_stack(np.asarray(x, dtype=np.result_type(x, np.float32)))
    return np.take(spec, _row_index(h), axis=-2).astype(np.complex64, copy=False)


def interpolate(x: np.ndarray, a: float = -0.75, centering: bool = True) -> np.ndarray:
    """Fourier coefficients (half layout) of the continuous interpolant of maps ``(..., h, w)``."""
    return half_spectrum(x) * interpolation_grid(tuple(x.shape[-2:]), a, centering)


def shift_phase(
    shape: tuple[int, int], dy: float, dx: float, period: tuple[float, float]
) -> np.ndarray:
    """Half-layout factors that move a function by ``(-dy, -dx)``: ``g(t) = f(t + d)``.

    Multiplying a spectrum by them recentres it on the point ``d`` (same units as ``period``).
    """
    ky = row_frequencies(shape[0])
    kx = col_frequencies(shape[1])
    py = np.exp(2j * np.pi * ky * dy / period[0])
    px = np.exp(2j * np.pi * kx * dx / period[1])
    return np.outer(py, px).astype(np.complex64)


def half_weights(n_cols: int) -> np.ndarray:
    """Per-column weight of a half-layout spectrum in sums over the full spectrum: 1, 2, 2, ..."""
    w = np.full(n_cols, 2.0, dtype=np.float32)
    w[0] = 1.0
    return w


def half_inner(a: np.ndarray, b: np.ndarray) -> float:
    """Real inner product ``<a, b>`` over the full spectra of two half-layout arrays."""
    total = 2.0 * np.vdot(a, b).real
    return float(total - np.vdot(a[..., 0], b[..., 0]).real)


def symmetrize(xf: np.ndarray) -> np.ndarray:
    """Make column ``kx = 0`` Hermitian (``X[-ky, 0] = conj(X[ky, 0])``), in place; returns it.

    Solvers keep this symmetry in exact arithmetic; rounding slowly breaks it.
    """
    col = xf[..., 0]
    col[...] = 0.5 * (col + np.conj(col[..., ::-1]))
    return xf


def sample_grid(xf: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Values of the function with half-layout coefficients ``xf`` on a regular grid.

    ``size`` defaults to the smallest grid that holds the spectrum (``rows, 2 * cols - 1``);
    grid point ``(i, j)`` is ``t = (i T_y / size_y, j T_x / size_x)``.
    """
    rows, cols = xf.shape[-2:]
    ny, nx = size or (rows, 2 * cols - 1)
    if ny < rows or nx < 2 * cols - 1:
        raise ValueError(f"grid {ny}x{nx} is too small for a {rows}x{cols} half spectrum")
    k = rows // 2
    full = np.zeros((*xf.shape[:-2], ny, nx // 2 + 1), dtype=np.complex128)
    full[..., :, :cols][..., np.arange(-k, k + 1) % ny, :] = xf
    return np.fft.irfft2(full, s=(ny, nx)) * (ny * nx)
