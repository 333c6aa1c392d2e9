"""Where one target is and which part of the frame its samples cover: one convention for all
correlation-filter hosts.

A target has a centre (x, y) in frame pixels and a size ``base_size * scale``; its sample is the
window ``base_window * scale`` (frame pixels) around the centre, resized to ``sample_px``. So
``scale`` is always a size factor relative to the base, and the base is the host's choice:
``dcf`` takes the first box (scale 1 = the first frame), ECO takes sample pixels (its base
window equals ``sample_px``, so its scale is also frame pixels per sample pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.features.patches import window_span

__all__ = ["TargetGeometry"]


@dataclass
class TargetGeometry:
    centre: np.ndarray  # (x, y), frame pixels
    base_size: np.ndarray  # (w, h) of the target at scale 1
    base_window: np.ndarray  # (w, h) of the sample window at scale 1, frame pixels
    sample_px: tuple[int, int]  # (w, h) the window is resized to
    scale: float = 1.0  # size factor relative to the base

    @property
    def size(self) -> np.ndarray:
        """The target's (w, h) in frame pixels."""
        return self.base_size * self.scale

    @property
    def window(self) -> np.ndarray:
        """The sample window's (w, h) in frame pixels."""
        return self.base_window * self.scale

    def centre_xy(self) -> tuple[float, float]:
        return (float(self.centre[0]), float(self.centre[1]))

    def crop_grid(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Frame pixel of the crop's top-left corner and frame pixels per sample pixel, (x, y)
        each: the whole-pixel window :func:`~cftrack_cli.features.patches.crop_resize` cuts."""
        window = self.window
        x0, nx = window_span(self.centre[0], window[0])
        y0, ny = window_span(self.centre[1], window[1])
        step = (nx / self.sample_px[0], ny / self.sample_px[1])
        return (float(x0), float(y0)), step

    def keep_inside(self, width: int, height: int) -> None:
        """The centre stays within the frame, so the box always overlaps it."""
        self.centre[0] = min(max(self.centre[0], 0.0), width - 1.0)
        self.centre[1] = min(max(self.centre[1], 0.0), height - 1.0)

    def box(self) -> Box:
        w, h = self.size
        return Box.from_center(float(self.centre[0]), float(self.centre[1]), float(w), float(h))
