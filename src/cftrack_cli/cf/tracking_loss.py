"""The differentiable DCF tracking loss, shared by the distillation and online adaptation.

A closed-form correlation filter (:func:`cftrack_cli.cf.dcf.dcf_response`, the trackers' own
maths) learned on template features and applied to search features must put a Gaussian peak
where the target moved: ``|| r - g ||^2`` (DCFNet / CFNet style).
"""

from __future__ import annotations

import torch
from torch import nn

from cftrack_cli.cf.dcf import dcf_response
from cftrack_cli.cf.fourier import gaussian_label, hann_window

__all__ = ["TrackingLoss", "shifted_labels"]


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
