"""The two distillation losses.

- Fidelity: the student, through a learned 1x1 adapter per tap, reproduces the teacher's
  feature maps at the same stride. Teacher maps are standardised per channel beforehand
  (see :mod:`cftrack_cli.distill.teacher_cache`), so every tap and channel weighs alike.
- Tracking: the closed-form correlation filter of :mod:`cftrack_cli.cf.dcf` (the trackers'
  own code), learned on the template's student features and applied to the search features,
  must put a Gaussian peak where the target moved: ``|| r - g ||^2`` (DCFNet / CFNet style).
"""

from __future__ import annotations

import torch
from torch import nn

from cftrack_cli.cf.dcf import dcf_response
from cftrack_cli.cf.fourier import gaussian_label, hann_window


def fidelity_loss(student: torch.Tensor, teacher: torch.Tensor, adapter: nn.Module) -> torch.Tensor:
    """Mean squared error between ``adapter(student)`` and the (standardised) teacher maps.

    The student map is resized to the teacher's grid when a border row or column differs.
    """
    pred = adapter(student)
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
    """DCF tracking loss on one tap: template features -> filter -> response on search features."""

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
        # Unit mean energy per sample: the filter's lambda then means the same for every input.
        energy = feats.pow(2).mean(dim=(-3, -2, -1), keepdim=True)
        return feats / torch.sqrt(energy + 1e-8)

    def forward(
        self, template: torch.Tensor, search: torch.Tensor, shift_px: torch.Tensor
    ) -> torch.Tensor:
        x, z = self._prepare(template), self._prepare(search)
        response = dcf_response(x, z, self.label, self.lam)
        target = shifted_labels(shift_px / self.stride, self.size, self.sigma)
        return (response - target).pow(2).sum(dim=(-2, -1)).mean()
