"""``eco-hc``: ECO (Danelljan et al., "ECO: Efficient Convolution Operators for Tracking", CVPR
2017) on hand-crafted features.

The core is feature-agnostic: :class:`ECOParams.layers` lists :class:`FeatureLayer` specs, each
a :class:`~cftrack_cli.features.base.FeatureExtractor` at its own cell size (stride) with its
own projected dimension, so deep CNN layers plug in as more layers. ECO is a host on the
tracking engine (:mod:`cftrack_cli.trackers.engine`): this module says how ECO chooses its
sample (a square, every layer tiling it) and its feature stage; its learner (filter, projection,
sample space, sparse updates) is :mod:`cftrack_cli.trackers.eco_learner`, the maths
:mod:`cftrack_cli.cf`. Per frame:

1. crop one square sample around the target, extract every layer, normalise, project with the
   layer's fixed matrix, window, and interpolate onto the continuous domain (Fourier);
2. score = sum over layers of filter * sample; maximise it (grid search + Newton);
3. the fDSST scale filter updates the size;
4. the detection sample, recentred on the new position, joins the Gaussian-mixture sample
   space; every ``train_gap + 1`` frames the filter is refined by warm-started CG.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.cf.eco_filter import SolverParams
from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.features.backend import FeatureBackend
from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.handcrafted import FHOG, ColorNames, Grayscale, is_grayscale
from cftrack_cli.features.stage import FeatureStage
from cftrack_cli.trackers.eco_learner import ECOLearner
from cftrack_cli.trackers.engine import CFTracker
from cftrack_cli.trackers.registry import register

_HANDCRAFTED: dict[str, Callable[[int], FeatureExtractor]] = {
    "fhog": FHOG,
    "colornames": ColorNames,
    "grayscale": Grayscale,
}


@dataclass(frozen=True)
class FeatureLayer:
    """One feature layer of the ECO model."""

    # "fhog" | "colornames" | "grayscale", or a factory(cell_size) -> FeatureExtractor (a CNN
    # layer, say); a factory should be a module-level function so params stay picklable.
    feature: str | Callable[[int], FeatureExtractor]
    cell_size: int  # stride of the layer, in pixels of the resized sample
    compressed_dim: int  # channels after the learned projection (ECO's factorised convolution)
    frames: str = "any"  # use it on "color" frames, "gray" frames, or "any"
    reg_window_edge: float | None = None  # this layer's regularisation at the target's edge

    def __post_init__(self) -> None:
        if self.frames not in ("any", "color", "gray"):
            raise ValueError(f"frames must be 'any', 'color' or 'gray', not {self.frames!r}")
        if self.cell_size < 1 or self.compressed_dim < 1:
            raise ValueError("cell_size and compressed_dim must be positive")

    def build(self) -> FeatureExtractor:
        if isinstance(self.feature, str):
            try:
                return _HANDCRAFTED[self.feature](self.cell_size)
            except KeyError:
                known = ", ".join(sorted(_HANDCRAFTED))
                raise ValueError(f"unknown feature {self.feature!r}; one of {known}") from None
        extractor = self.feature(self.cell_size)
        if extractor.cell_size != self.cell_size:
            raise ValueError(
                f"{extractor!r} has cell size {extractor.cell_size}, not {self.cell_size}"
            )
        return extractor

    def applies_to(self, colour: bool) -> bool:
        return self.frames == "any" or (self.frames == "color") == colour


HC_LAYERS = (
    FeatureLayer("fhog", cell_size=6, compressed_dim=10),
    FeatureLayer("colornames", cell_size=4, compressed_dim=3, frames="color"),
    # ECO-HC uses a 6-bin intensity table on grey input; plain intensity is what we have.
    FeatureLayer("grayscale", cell_size=4, compressed_dim=1, frames="gray"),
)


@dataclass
class ECOParams:
    """ECO-HC's published OTB setting (``OTB_HC_settings.m``) unless noted.

    Deviations: the sample side is rounded to a multiple of every layer's cell size (so all
    layers tile it exactly and share one period; ECO instead stretches the coarser layer to
    make feature sizes odd); grey input uses plain intensity instead of ECO's 6-bin table.
    """

    layers: tuple[FeatureLayer, ...] = HC_LAYERS  # feature layers (see FeatureLayer)
    search_area_scale: float = 4.0  # sample side = this * sqrt(target area) (a square)
    min_sample_area: float = 150.0**2  # the resized sample has at least this many pixels ...
    max_sample_area: float = 200.0**2  # ... and at most this many
    normalize_features: bool = True  # scale each layer to unit mean square per element
    output_sigma_factor: float = 1.0 / 16  # label width relative to sqrt(target area)
    interp_bicubic_a: float = -0.75  # the cubic interpolation kernel's parameter
    learning_rate: float = 0.009  # weight of the newest sample in the sample space
    n_samples: int = 30  # Gaussian-mixture components kept
    train_gap: int = 5  # frames without filter update between updates (sparse updates)
    skip_after_frame: int = 10  # update every frame before this frame number
    cg_forgetting_rate: float = 50.0  # the CG warm start decays by (1 - learning_rate) ** this
    reg_window_min: float = 1e-4  # spatial regularisation at the target centre
    reg_window_edge: float = 10e-3  # ... at the target's border (quadratic in between)
    reg_window_power: float = 2.0  # the regularisation window's exponent
    reg_sparsity_threshold: float = 0.05  # window coefficients below this fraction are dropped
    newton_iterations: int = 5  # refinement steps of the score maximum
    solver: SolverParams = field(default_factory=SolverParams)  # CG / Gauss-Newton settings
    scale: ScaleParams = field(default_factory=ScaleParams)  # the fDSST scale filter
    min_target_px: float = 5.0  # the estimated target never shrinks below this (pixels)
    # Confidence (see CFTracker.confidence) below this flags the frame lost. Chosen on the dev
    # benchmark (docs/results.md, "A score that says when the tracker has drifted").
    lost_threshold: float = 0.12
    anchored_confidence: bool = True  # confidence asks the first frame's filter too (engine)
    freeze_when_lost: bool = False  # lost frames teach neither filter nor scale (engine)


@register("eco-hc", "ECO (CVPR 2017) with fHOG + ColorNames, fDSST scale; lost flag")
class ECOTracker(CFTracker):
    """ECO over the feature layers of :class:`ECOParams`, on the tracking engine
    (:mod:`cftrack_cli.trackers.engine`) with :class:`~cftrack_cli.trackers.eco_learner.
    ECOLearner`; ``score`` is the continuous score's maximum and ``lost`` flags frames whose
    score fell below ``lost_threshold``."""

    params: ECOParams

    def __init__(self, params: ECOParams | None = None) -> None:
        super().__init__()
        self.params = params or ECOParams()
        #: The network behind the deep layers, if any, and its weights file (set by the presets).
        self.network: FeatureBackend | None = None
        self.network_file: Path | None = None

    # -- the host's choices -------------------------------------------------------------------
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

    def _learner(
        self, frame: np.ndarray, stage: FeatureStage, target: TargetGeometry
    ) -> ECOLearner:
        return ECOLearner(stage, target, self._layers(frame), self.params, self.timer)

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
