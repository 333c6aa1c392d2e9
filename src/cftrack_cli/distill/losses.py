"""The two distillation losses.

- Fidelity: the student, through a learned 1x1 adapter per tap, reproduces the teacher's
  feature maps at the same stride. Teacher maps are standardised per channel beforehand
  (see :mod:`cftrack_cli.distill.teacher_cache`), so every tap and channel weighs alike.
- Tracking (:mod:`cftrack_cli.cf.tracking_loss`, shared with online adaptation): the
  closed-form correlation filter of :mod:`cftrack_cli.cf.dcf` (the trackers' own code),
  learned on the template's student features and applied to the search features, must put
  a Gaussian peak where the target moved: ``|| r - g ||^2`` (DCFNet / CFNet style).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cftrack_cli.cf.fourier import subpixel_peak
from cftrack_cli.cf.tracking_loss import TrackingLoss, shifted_labels

__all__ = ["TrackingLoss", "fidelity_mse", "peak_shifts", "shifted_labels", "upsample_periodic"]


def fidelity_mse(pred: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error between adapted student maps and the (standardised) teacher maps.

    The prediction is resized to the teacher's grid when a border row or column differs.
    """
    if pred.shape[-2:] != teacher.shape[-2:]:
        pred = nn.functional.interpolate(
            pred, size=teacher.shape[-2:], mode="bilinear", align_corners=False
        )
    return nn.functional.mse_loss(pred, teacher)


def peak_shifts(response: torch.Tensor) -> np.ndarray:
    """Wrapped peak displacement (dy, dx) in cells, with sub-cell refinement: (N, 2)."""
    maps = response.detach().float().cpu().numpy()
    return np.array([subpixel_peak(m)[:2] for m in maps], dtype=np.float32).reshape(-1, 2)


def upsample_periodic(response: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Band-limited (Fourier zero-padding) resampling of periodic (N, h, w) maps to ``size``.

    Index 0 stays displacement 0, so responses of taps with different strides over the same
    crop land on one grid and can be summed, as ECO sums its layers' scores.
    """
    h, w = response.shape[-2:]
    big_h, big_w = size
    spec = torch.fft.fft2(response.float())
    out = spec.new_zeros((*response.shape[:-2], big_h, big_w))
    hy, hx = (h + 1) // 2, (w + 1) // 2
    ry, rx = h - hy, w - hx
    out[..., :hy, :hx] = spec[..., :hy, :hx]
    if rx:
        out[..., :hy, big_w - rx :] = spec[..., :hy, hx:]
    if ry:
        out[..., big_h - ry :, :hx] = spec[..., hy:, :hx]
    if ry and rx:
        out[..., big_h - ry :, big_w - rx :] = spec[..., hy:, hx:]
    return torch.fft.ifft2(out).real * (big_h * big_w) / (h * w)
