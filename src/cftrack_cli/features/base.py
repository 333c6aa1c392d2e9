"""The feature seam: hand-crafted, teacher and student features all look like this to a tracker.

A :class:`FeatureExtractor` turns a batch of image patches into feature maps at one resolution.
Patches are RGB arrays ``(N, H, W, 3)`` (uint8 or float32 in 0..255), all the same size.
Features come back channels-first ``(N, C, H // cell_size, W // cell_size)`` float32, ready
for FFTs over the last two axes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class FeatureExtractor(ABC):
    @property
    @abstractmethod
    def dim(self) -> int:
        """Number of output channels."""

    @property
    @abstractmethod
    def cell_size(self) -> int:
        """Pixels of input per output cell along each axis (the stride)."""

    @abstractmethod
    def extract(self, patches: np.ndarray) -> np.ndarray:
        """Features of ``patches`` (N, H, W, 3) -> (N, dim, H // cell_size, W // cell_size)."""

    @property
    def offset(self) -> float:
        """Pixels by which the receptive-field centres sit right of / below the cell centres
        (0 for hand-crafted features; a CNN layer may be off by part of a cell)."""
        return 0.0

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        return height // self.cell_size, width // self.cell_size
