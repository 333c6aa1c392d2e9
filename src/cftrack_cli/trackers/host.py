"""What ECO and STRCF share as hosts on the engine: feature layers over a square sample.

A :class:`LayeredHost` picks the feature layers that apply to the frame (colour or grey),
chooses the sample geometry (a square ``search_area_scale`` times the target's side, resized
into an allowed area, every layer tiling it exactly), builds the feature stage, and reports
the network behind its deep layers. A host subclasses it with its learner alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.features.backend import FeatureBackend
from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.handcrafted import is_grayscale
from cftrack_cli.features.stage import FeatureStage
from cftrack_cli.trackers.engine import CFTracker, EngineSettings
from cftrack_cli.trackers.layers import FeatureLayer

__all__ = ["HostSettings", "LayeredHost"]


class HostSettings(EngineSettings, Protocol):
    """The settings a layered host reads, beside the engine's."""

    layers: tuple[FeatureLayer, ...]  # feature layers (see FeatureLayer)
    search_area_scale: float  # sample side = this * sqrt(target area) (a square)
    min_sample_area: float  # the resized sample has at least this many pixels ...
    max_sample_area: float  # ... and at most this many
    normalize_features: bool  # scale each layer to unit mean square per element
    interp_bicubic_a: float  # the cubic interpolation kernel's parameter


class LayeredHost(CFTracker):
    """The engine with feature layers over a square sample (see the module notes)."""

    params: HostSettings

    def __init__(self) -> None:
        super().__init__()
        #: The network behind the deep layers, if any, and its weights file (set by the presets).
        self.network: FeatureBackend | None = None
        self.network_file: Path | None = None

    def _layers(self, frame: np.ndarray) -> list[FeatureLayer]:
        colour = not is_grayscale(frame)
        specs = [layer for layer in self.params.layers if layer.applies_to(colour)]
        if not specs:
            raise ValueError("no feature layer applies to this input")
        return specs

    def _geometry(self, frame: np.ndarray, box: Box) -> TargetGeometry:
        """A square sample ``search_area_scale`` times the target's side, resized into the
        allowed area; the base is sample pixels (scale = frame pixels per sample pixel)."""
        p = self.params
        target = np.array([box.w, box.h], dtype=np.float64)
        area = float(target.prod()) * p.search_area_scale**2
        if area > p.max_sample_area:
            scale = math.sqrt(area / p.max_sample_area)
        elif area < p.min_sample_area:
            scale = math.sqrt(area / p.min_sample_area)
        else:
            scale = 1.0
        base_target = target / scale  # in resized-sample pixels
        # A square sample that every layer tiles exactly, so all layers share one period.
        step = math.lcm(*(s.cell_size for s in self._layers(frame)))
        side = math.sqrt(float(base_target.prod())) * p.search_area_scale
        sample_px = step * max(1, round(side / step))
        return TargetGeometry(
            centre=np.array(box.center, dtype=np.float64),
            base_size=base_target,
            base_window=np.array([sample_px, sample_px], dtype=np.float64),
            sample_px=(sample_px, sample_px),
            scale=scale,
        )

    def _extractors(self, frame: np.ndarray, target: TargetGeometry) -> list[FeatureExtractor]:
        """The feature layers for this frame's kind (colour or grey)."""
        return [s.build() for s in self._layers(frame)]

    def _stage(self, frame: np.ndarray, target: TargetGeometry) -> FeatureStage:
        p = self.params
        return FeatureStage(
            self._extractors(frame, target),
            target.sample_px,
            normalize=p.normalize_features,
            interp_a=p.interp_bicubic_a,
            timer=self.timer,
        )

    def describe(self) -> dict[str, object]:
        """Sample size and, for deep layers, the network's size and cost (what bench prints)."""
        px = self.target.sample_px[0] if self._started else None
        info: dict[str, object] = {"sample_px": px}
        backend = self.network
        if backend is not None and px:
            info["network"] = {
                **backend.describe((px, px)),
                "file_bytes": self.network_file.stat().st_size if self.network_file else None,
            }
        return info
