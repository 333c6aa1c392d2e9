"""The CF maths: closed-form filter, peak finding, Fourier helpers, the scale filter."""

import cv2
import numpy as np
import pytest
import torch

from cftrack_cli.cf.dcf import dcf_response, detect, filter_denominator, filter_numerator
from cftrack_cli.cf.fourier import (
    gaussian_label,
    hann_window,
    resize_spectrum_1d,
    rfft2,
    shift_spectrum,
    subpixel_peak,
)
from cftrack_cli.cf.scale import ScaleFilter, ScaleParams
from cftrack_cli.features.patches import crop_resize


def test_gaussian_label_peaks_at_origin_and_wraps():
    g = gaussian_label(16, 20, sigma=2.0)
    assert g.shape == (16, 20)
    assert g[0, 0] == pytest.approx(1.0)
    assert g[1, 0] == pytest.approx(g[-1, 0])  # symmetric through the wrap
    centred = gaussian_label(16, 20, sigma=2.0, centered=True)
    assert np.unravel_index(centred.argmax(), centred.shape) == (8, 10)


def test_hann_window_is_positive_and_peaks_in_the_middle():
    w = hann_window(9, 12)
    assert w.min() > 0
    assert w[4, 5] == pytest.approx(w.max(), rel=0.02)


@pytest.mark.parametrize("shift", [(0, 0), (3, -5), (-7, 2)])
def test_filter_finds_a_circular_shift(shift):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 32, 40)).astype(np.float32)
    z = np.roll(x, shift, axis=(1, 2))
    y = gaussian_label(32, 40, sigma=1.5)
    response = dcf_response(x, z, y, lam=1e-3)
    dy, dx, peak = subpixel_peak(response)
    assert (round(dy), round(dx)) == shift
    assert peak > 0.5


def test_numpy_and_torch_give_the_same_response():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 16, 16)).astype(np.float32)
    z = rng.normal(size=(3, 16, 16)).astype(np.float32)
    y = gaussian_label(16, 16, sigma=1.0)
    r_np = dcf_response(x, z, y, lam=1e-2)
    r_t = dcf_response(torch.from_numpy(x), torch.from_numpy(z), torch.from_numpy(y), lam=1e-2)
    np.testing.assert_allclose(r_np, r_t.numpy(), atol=1e-4)


def test_dcf_response_is_differentiable():
    x = torch.randn(2, 4, 16, 16, requires_grad=True)
    z = torch.randn(2, 4, 16, 16)
    y = torch.from_numpy(gaussian_label(16, 16, sigma=1.0))
    loss = ((dcf_response(x, z, y, lam=1e-2) - y) ** 2).sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_learned_filter_reproduces_its_label():
    """On its own training sample, the closed-form filter returns (almost) the label."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 24, 24))
    y = gaussian_label(24, 24, sigma=2.0)
    xf, yf = rfft2(x), rfft2(y)
    r = detect(filter_numerator(xf, yf), filter_denominator(xf), xf, 1e-6, (24, 24))
    np.testing.assert_allclose(r, y, atol=1e-3)


@pytest.mark.parametrize("true", [(0.3, -0.2), (-0.4, 0.45), (2.25, -3.3)])
def test_subpixel_peak_on_a_sampled_gaussian(true):
    h, w = 31, 33
    ys = (np.arange(h) + h // 2) % h - h // 2
    xs = (np.arange(w) + w // 2) % w - w // 2
    r = np.exp(-((ys[:, None] - true[0]) ** 2 + (xs[None, :] - true[1]) ** 2) / (2 * 1.5**2))
    dy, dx, _ = subpixel_peak(r)
    assert dy == pytest.approx(true[0], abs=0.12)
    assert dx == pytest.approx(true[1], abs=0.12)


def test_shift_spectrum_matches_roll():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 12, 14))
    shifted = np.fft.irfft2(shift_spectrum(rfft2(x), 3, -2, (12, 14)), s=(12, 14))
    np.testing.assert_allclose(shifted, np.roll(x, (3, -2), axis=(1, 2)), atol=1e-9)


def test_resize_spectrum_interpolates_a_band_limited_signal():
    n, m = 17, 33
    t = np.arange(n) / n
    signal = np.cos(2 * np.pi * 2 * t) + 0.5 * np.sin(2 * np.pi * 3 * t)
    fine = np.fft.ifft(resize_spectrum_1d(np.fft.fft(signal), m)).real
    tf = np.arange(m) / m
    expected = np.cos(2 * np.pi * 2 * tf) + 0.5 * np.sin(2 * np.pi * 3 * tf)
    np.testing.assert_allclose(fine, expected, atol=1e-9)


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (400, 400)), (0, 0), 2.0)
    return np.repeat(texture[:, :, None], 3, axis=2).astype(np.uint8)


def _samples(image, centre, size, factors, model=(32, 32)):
    cols = [
        crop_resize(image, centre, (size * f, size * f), model)[:, :, 0].astype(np.float64)
        for f in factors
    ]
    cols = [(c - c.mean()) / (c.std() + 1e-6) for c in cols]
    return np.stack([c.ravel() for c in cols], axis=1)


@pytest.mark.parametrize("true_scale", [1.0, 1.08, 0.92])
def test_scale_filter_recovers_a_known_zoom(true_scale):
    image = _scene()
    centre = (200.0, 200.0)
    zoomed = cv2.resize(image, None, fx=true_scale, fy=true_scale, interpolation=cv2.INTER_LINEAR)
    zcentre = (centre[0] * true_scale, centre[1] * true_scale)
    sf = ScaleFilter(ScaleParams())
    sf.update(_samples(image, centre, 80.0, sf.sample_factors))
    factor, peak = sf.estimate(_samples(zoomed, zcentre, 80.0, sf.sample_factors))
    assert factor == pytest.approx(true_scale, rel=0.025)
    assert peak > 0.2
