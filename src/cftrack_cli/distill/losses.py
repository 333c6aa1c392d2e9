"""The two distillation losses.

- Fidelity: the student, through a learned 1x1 adapter per tap, reproduces the teacher's
  feature maps at the same stride. Teacher maps are standardised per channel beforehand
  (see :mod:`cftrack_cli.distill.teacher_cache`), so every tap and channel weighs alike.
- Tracking: the closed-form correlation filter of :mod:`cftrack_cli.cf.dcf` (the trackers'
  own code), learned on the template's student features and applied to the search features,
  must put a Gaussian peak where the target moved: ``|| r - g ||^2`` (DCFNet / CFNet style).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cftrack_cli.cf.dcf import dcf_response
from cftrack_cli.cf.fourier import gaussian_label, hann_window, subpixel_peak


def fidelity_mse(pred: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error between adapted student maps and the (standardised) teacher maps.

    The prediction is resized to the teacher's grid when a border row or column differs.
    """
    if pred.shape[-2:] != teacher.shape[-2:]:
        pred = nn.functional.interpolate(
            pred, size=teacher.shape[-2:], mode="bilinear", align_corners=False
        )
    return nn.functional.mse_loss(pred, teacher)


def shifted_labels(shift_cells: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """Wrapped Gaussians of peak 1 centred at ``shift_cells`` (N, 2) = (dy, dx): (N, H, W)."""
    h, w = size
    ys = torch.arange(h, dtype=torch.float32, device=shift_cells.device)
    xs = torch.arange(w, dtype=torch.float32, device=shift_cells.device)
    dy = ys[None, :] - shift_cells[:, :1]
    dx = xs[None, :] - shift_cells[:, 1:]
    dy = torch.remainder(dy + h / 2, h) - h / 2  # nearest wrapped distance
    dx = torch.remainder(dx + w / 2, w) - w / 2
    return torch.exp(-0.5 * (dy[:, :, None] ** 2 + dx[:, None, :] ** 2) / sigma**2)


class TrackingLoss(nn.Module):
    """DCF tracking loss on one tap: template features -> filter -> response on search features.

    ``size`` is the tap's map size (h, w), ``stride`` its pixels per cell, ``sigma_cells`` the
    Gaussian label's width in cells, ``lam`` the filter's regulariser relative to the mean
    spectral energy of the (windowed) template features.
    """

    def __init__(self, size: tuple[int, int], stride: int, sigma_cells: float, lam: float) -> None:
        super().__init__()
        self.size = size
        self.stride = stride
        self.sigma = sigma_cells
        self.lam = lam
        self.register_buffer("window", torch.from_numpy(hann_window(*size)))
        self.register_buffer("label", torch.from_numpy(gaussian_label(*size, sigma_cells)))

    def _prepare(self, feats: torch.Tensor) -> torch.Tensor:
        feats = feats[..., : self.size[0], : self.size[1]] * self.window
        # Unit total energy per sample: by Parseval the filter's denominator then averages 1
        # over frequencies, so ``lam`` means the same for any input, width and map size.
        energy = feats.pow(2).sum(dim=(-3, -2, -1), keepdim=True)
        return feats / torch.sqrt(energy + 1e-12)

    def response(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """(N, h, w) responses of the filter learned on ``template``, on ``search``."""
        x, z = self._prepare(template), self._prepare(search)
        return dcf_response(x, z, self.label, self.lam)

    def forward(
        self, template: torch.Tensor, search: torch.Tensor, shift_px: torch.Tensor
    ) -> torch.Tensor:
        response = self.response(template, search)
        target = shifted_labels(shift_px / self.stride, self.size, self.sigma)
        return (response - target).pow(2).sum(dim=(-2, -1)).mean()


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
