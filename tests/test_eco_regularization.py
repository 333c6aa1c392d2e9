"""The spatial regularisation window and its Fourier-domain operator."""

import numpy as np
import pytest

from cftrack_cli.cf.interpolation import half_inner, half_spectrum, sample_grid
from cftrack_cli.cf.regularization import SpatialRegularizer, reg_window_coefficients


def convolve2d(x: np.ndarray, k: np.ndarray, mode: str = "full") -> np.ndarray:
    """Full 2-D convolution written out as a sum of shifted copies: the plain reference."""
    assert mode == "full"
    out = np.zeros(
        (x.shape[0] + k.shape[0] - 1, x.shape[1] + k.shape[1] - 1), dtype=np.result_type(x, k)
    )
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            out[i : i + x.shape[0], j : j + x.shape[1]] += k[i, j] * x
    return out


def test_window_is_small_on_the_target_and_large_at_the_edges():
    coef = reg_window_coefficients((120, 120), (40.0, 20.0), min_value=1e-4, edge_value=1e-2)
    assert coef.shape[0] % 2 == 1 and coef.shape[1] % 2 == 1
    np.testing.assert_allclose(coef, coef[::-1, ::-1])  # real and symmetric
    # Evaluate the sparse window: it is centred on the sample centre (origin = top-left).
    ry, rx = coef.shape[0] // 2, coef.shape[1] // 2
    full = np.zeros((2 * ry + 1, rx + 1), dtype=np.complex128)
    full[:, :] = coef[:, rx:]
    window = sample_grid(full, (240, 240))  # two grid points per pixel; 120 is the centre
    assert window[120, 120] == pytest.approx(window.min(), abs=1e-6)
    pixels = window[1::2, 1::2]  # pixel centres, t = n + 1/2: where the minimum is enforced
    assert pixels.min() == pytest.approx(1e-4, rel=1e-3)
    assert window[0, 0] > 20 * window[120, 120]
    # Narrower target width: the penalty grows faster along x.
    assert window[120, 120 + 60] > window[120 + 60, 120]


def _dense_reference(full: np.ndarray, coef: np.ndarray) -> np.ndarray:
    ry, rx = coef.shape[0] // 2, coef.shape[1] // 2
    out = []
    for channel in full:
        g = convolve2d(channel, coef, mode="full")
        h = convolve2d(g, coef[::-1, ::-1], mode="full")
        out.append(h[2 * ry : 2 * ry + channel.shape[0], 2 * rx : 2 * rx + channel.shape[1]])
    return np.array(out)


def test_operator_matches_dense_convolutions_on_the_full_spectrum():
    rng = np.random.default_rng(0)
    coef = reg_window_coefficients((96, 96), (30.0, 18.0))
    reg = SpatialRegularizer(coef)
    x = rng.normal(size=(3, 11, 11))
    hf = half_spectrum(x)
    full = np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1))
    expected = _dense_reference(full, coef)[..., 5:]
    got = reg.apply(hf)
    assert np.abs(got - expected).max() < 1e-5 * np.abs(expected).max()


def test_operator_is_self_adjoint_and_positive():
    rng = np.random.default_rng(1)
    reg = SpatialRegularizer(reg_window_coefficients((96, 96), (24.0, 24.0)))
    a = half_spectrum(rng.normal(size=(2, 9, 9))).astype(np.complex128)
    b = half_spectrum(rng.normal(size=(2, 9, 9))).astype(np.complex128)
    assert half_inner(reg.apply(a), b) == pytest.approx(half_inner(a, reg.apply(b)), rel=1e-6)
    assert half_inner(reg.apply(a), a) > 0
    assert reg.energy == pytest.approx(float(np.sum(reg.coefficients.astype(float) ** 2)))


def test_rejects_even_coefficient_arrays():
    with pytest.raises(ValueError):
        SpatialRegularizer(np.ones((2, 3)))
