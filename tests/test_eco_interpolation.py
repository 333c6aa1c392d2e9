"""ECO's continuous-domain interpolation: kernel transform, per-layer Fourier coefficients."""

import numpy as np
import pytest

from cftrack_cli.cf.interpolation import (
    col_frequencies,
    cubic_kernel,
    cubic_kernel_fourier,
    half_inner,
    half_size,
    half_spectrum,
    interpolate,
    row_frequencies,
    sample_grid,
    shift_phase,
    symmetrize,
)


@pytest.mark.parametrize("a", [-0.75, -0.5])
def test_kernel_fourier_coefficients_match_a_numeric_transform(a):
    t = np.linspace(-2.0, 2.0, 40001)
    kernel = cubic_kernel(t, a)
    for f in [0.0, 0.05, 0.2, 0.37, 0.5, 0.83, 1.6]:
        numeric = np.trapezoid(kernel * np.cos(2 * np.pi * f * t), t)  # the kernel is even
        assert cubic_kernel_fourier(f, a) == pytest.approx(numeric, abs=1e-7)


def test_kernel_is_interpolating():
    assert cubic_kernel(np.array([0.0, 1.0, -1.0, 2.0, 2.5])) == pytest.approx([1, 0, 0, 0, 0])


def _interpolant(samples: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The periodic interpolant on [0, 1) of samples at (j + 1/2) / n, evaluated directly."""
    n = samples.size
    out = np.zeros_like(t)
    for j in range(n):
        for wrap in (-1, 0, 1):
            out += samples[j] * cubic_kernel((t - (j + 0.5) / n - wrap) * n)
    return out


@pytest.mark.parametrize("shape", [(7, 9), (8, 6)])
def test_layer_coefficients_are_the_fourier_series_of_the_interpolant(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    coef = interpolate(x[None])[0]
    assert coef.shape == half_size(shape)
    t = (np.arange(512) + 0.5) / 512
    # The interpolant is separable in the samples: J = By^T x Bx.
    by = np.stack([_interpolant(row, t) for row in np.eye(shape[0])])
    bx = np.stack([_interpolant(row, t) for row in np.eye(shape[1])])
    values = by.T @ x @ bx
    ey = np.exp(-2j * np.pi * np.outer(row_frequencies(coef.shape[0]), t)) / t.size
    ex = np.exp(-2j * np.pi * np.outer(col_frequencies(coef.shape[1]), t)) / t.size
    numeric = ey @ values @ ex.T
    np.testing.assert_allclose(coef, numeric, atol=1e-6)


def test_half_spectrum_round_trips_through_the_grid():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 11, 13))
    back = sample_grid(half_spectrum(x) / (11 * 13))
    np.testing.assert_allclose(back, x, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_half_spectrum_is_numpys_rfft2_in_the_half_layout(dtype):
    x = np.random.default_rng(5).integers(-9, 9, size=(3, 6, 7)).astype(dtype)
    reference = np.fft.rfft2(x.astype(np.float64))[:, [3, 4, 5, 0, 1, 2, 3], :]  # rows -3..3
    got = half_spectrum(x)
    assert got.dtype == np.complex64 and got.shape == (3, 7, 4)
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-4)


def test_shift_phase_recentres_on_a_point():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(9, 9))
    xf = half_spectrum(x) / 81
    moved = sample_grid(xf * shift_phase(xf.shape, 2.0, -3.0, (9.0, 9.0)))
    np.testing.assert_allclose(moved, np.roll(x, (-2, 3), axis=(0, 1)), atol=1e-4)


def test_half_inner_equals_the_full_spectrum_inner_product():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 3, 9, 9))
    full = np.vdot(np.fft.fft2(a), np.fft.fft2(b)).real
    assert half_inner(half_spectrum(a), half_spectrum(b)) == pytest.approx(full, rel=1e-4)


def test_symmetrize_restores_a_hermitian_zero_column():
    rng = np.random.default_rng(4)
    xf = half_spectrum(rng.normal(size=(9, 9))).astype(np.complex128)
    clean = xf.copy()
    xf[..., 0] += 1e-3 * (rng.normal(size=9) + 1j * rng.normal(size=9))
    fixed = symmetrize(xf)
    np.testing.assert_allclose(fixed[:, 0], np.conj(fixed[::-1, 0]))
    assert np.abs(fixed - clean).max() < 2e-3
