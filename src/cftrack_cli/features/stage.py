"""The shared feature stage: frame + target geometries -> normalised maps -> spectra.

One stage serves every target whose samples have the same size: it crops each target's window
(:class:`~cftrack_cli.features.geometry.TargetGeometry`), runs every feature layer once over
the batch of crops (a network backend's layers share one pass), normalises each sample's maps,
and on request windows and interpolates maps onto the continuous Fourier domain, each layer
moved by its receptive-field offset so all layers align. Per-target state (geometry, filter,
samples) lives with the target, not here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cftrack_cli.cf.fourier import hann_window
from cftrack_cli.cf.interpolation import half_size, interpolate, shift_phase
from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.patches import crop_resize
from cftrack_cli.timing import StageTimer

__all__ = ["FeatureStage"]


class FeatureStage:
    """Crop, extract and normalise; window and interpolate (see the module notes).

    ``extractors``: the feature layers, each tiling ``sample_px`` exactly; ``normalize``: scale
    each sample's layer to unit mean square per element (ECO); ``interp_a``: the cubic
    interpolation kernel's parameter.
    """

    def __init__(
        self,
        extractors: Sequence[FeatureExtractor],
        sample_px: tuple[int, int],
        *,
        normalize: bool = True,
        interp_a: float = -0.75,
        timer: StageTimer | None = None,
    ) -> None:
        self.extractors = list(extractors)
        self.sample_px = (int(sample_px[0]), int(sample_px[1]))
        self.normalize = normalize
        self.interp_a = interp_a
        self.timer = timer or StageTimer()
        w, h = self.sample_px
        #: The continuous domain's period (rows, columns), in sample pixels.
        self.period = (float(h), float(w))
        grids = [(h // e.cell_size, w // e.cell_size) for e in self.extractors]
        self._windows = [hann_window(*g)[None] for g in grids]
        #: Each layer's half-layout spectrum size.
        self.sizes = [half_size(g) for g in grids]
        # A layer whose receptive-field centres sit ``offset`` px right/below its cell centres
        # (CNN layers may) is moved by that much on the continuous domain, aligning the layers.
        self._layer_phase = [
            shift_phase(s, -off, -off, self.period) if off else None
            for s, off in zip(self.sizes, (float(e.offset) for e in self.extractors), strict=True)
        ]

    # -- maps ---------------------------------------------------------------------------------
    def crop(self, frame: np.ndarray, targets: Sequence[TargetGeometry]) -> np.ndarray:
        """Each target's window resized to ``sample_px``: (N, h, w, 3)."""
        with self.timer.stage("crop"):
            patches = [
                crop_resize(frame, t.centre_xy(), tuple(t.window), self.sample_px) for t in targets
            ]
        return patches[0][None] if len(patches) == 1 else np.stack(patches)

    def maps(self, frame: np.ndarray, targets: Sequence[TargetGeometry]) -> list[list[np.ndarray]]:
        """Per target, per layer, the (normalised) feature maps ``(C, h, w)`` of its sample."""
        patches = self.crop(frame, targets)
        out: list[list[np.ndarray]] = [[] for _ in targets]
        with self.timer.stage("features"):
            for extractor in self.extractors:
                batch = extractor.extract(patches)
                for k, f in enumerate(batch):
                    if self.normalize:
                        # ECO: sum of squares = elements (per layer), whatever the content
                        f = f * np.float32(math.sqrt(f.size / (float(np.sum(f * f)) + 1e-12)))
                    out[k].append(f)
        return out

    # -- spectra ------------------------------------------------------------------------------
    def spectra(self, maps: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Windowed maps of one sample interpolated onto the continuous domain (half layout)."""
        out = []
        for f, w, phase in zip(maps, self._windows, self._layer_phase, strict=True):
            xf = interpolate(f * w, self.interp_a)
            out.append(xf if phase is None else xf * phase)
        return out

    def recentre(self, target: TargetGeometry) -> list[np.ndarray]:
        """Per layer, phase factors that move ``target``'s centre to the centre of the sample
        last cut around it (where the filter learns the target to be)."""
        return self.shift_to_centre(*target.crop_grid(), target.centre)

    def shift_to_centre(
        self, origin: tuple[float, float], step: tuple[float, float], pos: np.ndarray
    ) -> list[np.ndarray]:
        """Phase factors that move frame point ``pos`` to the centre of a sample cut at
        ``origin`` with ``step`` frame pixels per sample pixel."""
        dx = (pos[0] - origin[0]) / step[0] - self.period[1] / 2.0
        dy = (pos[1] - origin[1]) / step[1] - self.period[0] / 2.0
        return [shift_phase(s, dy, dx, self.period) for s in self.sizes]
