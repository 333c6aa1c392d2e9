"""The closed-form multi-channel discriminative correlation filter (linear kernel).

For a training sample x (C channels) and a label y, the filter that minimises
``|| sum_c w_c * x_c - y ||^2 + lam || w ||^2`` per frequency (the single-sample solution of
MOSSE/DSST, the one DCFNet differentiates through) is

    w_c = conj(xf_c) yf / (sum_k |xf_k|^2 + lam)        (all spectra; * is correlation)

and its response on a search sample z is ``irfft2(sum_c w_c zf_c)``. Trackers keep the
numerator and denominator apart so both can be averaged over frames.

Every function works on numpy arrays and torch tensors (the distillation's tracking loss
backpropagates through :func:`dcf_response`). Channels are axis -3, spatial axes the last two.
"""

from __future__ import annotations

from typing import Any

from cftrack_cli.cf.fourier import irfft2, rfft2


def filter_numerator(xf: Any, yf: Any) -> Any:
    """conj(xf) * yf per channel: (..., C, H, W') spectra."""
    return xf.conj() * yf


def filter_denominator(xf: Any) -> Any:
    """sum over channels of |xf|^2: (..., H, W') real."""
    return (xf * xf.conj()).real.sum(axis=-3)


def detect(num: Any, den: Any, zf: Any, lam: float, size: tuple[int, int]) -> Any:
    """Spatial response of the filter (num, den) on the search spectrum ``zf``."""
    return irfft2((num * zf).sum(axis=-3) / (den + lam), size)


def dcf_response(x: Any, z: Any, y: Any, lam: float) -> Any:
    """Learn on the (windowed) features ``x``, respond on ``z``; label ``y`` (H, W).

    The differentiable form used by the distillation's tracking loss; batched over leading axes.
    """
    size = (x.shape[-2], x.shape[-1])
    xf, zf, yf = rfft2(x), rfft2(z), rfft2(y)
    return detect(filter_numerator(xf, yf), filter_denominator(xf), zf, lam, size)
