"""``dcf``: a multi-channel discriminative correlation filter on hand-crafted features.

DSST-family tracker (Danelljan et al., BMVC 2014 / PAMI 2017): fHOG + ColorNames features at
4x4 cells, a cosine window, the closed-form linear-kernel filter of :mod:`cftrack_cli.cf.dcf`
averaged over frames, and the fDSST scale filter of :mod:`cftrack_cli.cf.scale`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.cf.dcf import detect, filter_denominator, filter_numerator
from cftrack_cli.cf.fourier import gaussian_label, hann_window, rfft2, subpixel_peak
from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.handcrafted import FHOG, ColorNames, Concat, Grayscale, is_grayscale
from cftrack_cli.features.stage import FeatureStage
from cftrack_cli.trackers.base import CentredTracker, TrackResult
from cftrack_cli.trackers.registry import register
from cftrack_cli.trackers.scale_estimation import ScaleEstimator


@dataclass
class DCFParams:
    padding: float = 2.0  # search window = target size * (1 + padding) on each axis
    min_sample_area: float = 120.0**2  # resized search window at least this many pixels ...
    max_sample_area: float = 160.0**2  # ... and at most this many (sets the feature grid)
    cell_size: int = 4  # feature cell, pixels
    lam: float = 1e-2  # filter regularisation
    learning_rate: float = 0.025  # running-average rate of the filter
    output_sigma_factor: float = 1.0 / 16  # label width relative to the target's size
    use_color: bool = True  # ColorNames on colour input (grey input always uses intensity)
    scale: ScaleParams = field(default_factory=ScaleParams)  # the fDSST scale filter
    min_target_px: float = 5.0  # the estimated target never shrinks below this (pixels)


@register("dcf", "DSST-style correlation filter, fHOG + ColorNames, fDSST scale")
class DCFTracker(CentredTracker):
    def __init__(self, params: DCFParams | None = None) -> None:
        super().__init__()
        self.params = params or DCFParams()

    # -- set-up ----------------------------------------------------------------------------
    def _init(self, frame: np.ndarray, box: Box) -> None:
        p = self.params
        cell = p.cell_size
        base_target = np.array([box.w, box.h], dtype=np.float64)
        window = base_target * (1.0 + p.padding)
        area = float(window.prod())
        if area < p.min_sample_area:
            self._resize = math.sqrt(p.min_sample_area / area)
        elif area > p.max_sample_area:
            self._resize = math.sqrt(p.max_sample_area / area)
        else:
            self._resize = 1.0
        grid = np.maximum(2, np.round(window * self._resize / cell)).astype(int)
        sample_px = (int(grid[0] * cell), int(grid[1] * cell))  # (w, h)
        # The base is the first box: scale is the size relative to it.
        self.target = TargetGeometry(
            centre=np.array(box.center, dtype=np.float64),
            base_size=base_target,
            base_window=np.array(sample_px, dtype=np.float64) / self._resize,
            sample_px=sample_px,
        )
        self._grid = (int(grid[1]), int(grid[0]))  # (h, w)

        colour = p.use_color and not is_grayscale(frame)
        features = Concat(FHOG(cell), ColorNames(cell) if colour else Grayscale(cell))
        self._stage = FeatureStage([features], sample_px, normalize=False, timer=self.timer)
        self._cos = hann_window(*self._grid)
        target_cells = base_target * self._resize / cell
        sigma = math.sqrt(float(target_cells.prod())) * p.output_sigma_factor
        self._yf = rfft2(gaussian_label(*self._grid, sigma))

        xf = self._sample_spectrum(frame)
        self._num = filter_numerator(xf, self._yf)
        self._den = filter_denominator(xf)

        height, width = frame.shape[:2]
        self._scaler = ScaleEstimator(
            p.scale, (width, height), base_target, p.min_target_px, self.timer
        )
        self._scaler.update(frame, self._centre(), base_target)

    # -- per frame -------------------------------------------------------------------------
    def _sample_spectrum(self, frame: np.ndarray) -> np.ndarray:
        """Windowed features of the search window at the current position and scale."""
        ((feats,),) = self._stage.maps(frame, [self.target])
        with self.timer.stage("fft"):
            return rfft2(feats * self._cos)

    def _update(self, frame: np.ndarray) -> TrackResult:
        p = self.params
        zf = self._sample_spectrum(frame)
        with self.timer.stage("detect"):
            response = detect(self._num, self._den, zf, p.lam, self._grid)
            dy, dx, peak = subpixel_peak(response)
        step = p.cell_size / self._resize * self.target.scale
        self.target.centre += (dx * step, dy * step)
        self._keep_inside(frame)

        self.target.scale *= self._scaler.estimate(frame, self._centre(), self._target_size())

        xf = self._sample_spectrum(frame)
        with self.timer.stage("learn"):
            lr = p.learning_rate
            self._num = (1 - lr) * self._num + lr * filter_numerator(xf, self._yf)
            self._den = (1 - lr) * self._den + lr * filter_denominator(xf)
        self._scaler.update(frame, self._centre(), self._target_size())
        return TrackResult(self.current_box(), float(np.clip(peak, 0.0, 1.0)))
