"""``eco-hc``: ECO (Danelljan et al., "ECO: Efficient Convolution Operators for Tracking", CVPR
2017) on hand-crafted features.

The core is feature-agnostic: :class:`ECOParams.layers` lists :class:`FeatureLayer` specs, each
a :class:`~cftrack_cli.features.base.FeatureExtractor` at its own cell size (stride) with its
own projected dimension, so deep CNN layers plug in as more layers. ECO is a host on the
tracking engine (:mod:`cftrack_cli.trackers.engine`); the layers, the square sample (every
layer tiling it) and the feature stage are the shared host's (:mod:`cftrack_cli.trackers.host`,
STRCF uses the same); its learner (filter, projection, sample space, sparse updates) is
:mod:`cftrack_cli.trackers.eco_learner`, the maths :mod:`cftrack_cli.cf`. Per frame:

1. crop one square sample around the target, extract every layer, normalise, project with the
   layer's fixed matrix, window, and interpolate onto the continuous domain (Fourier);
2. score = sum over layers of filter * sample; maximise it (grid search + Newton);
3. the fDSST scale filter updates the size;
4. the detection sample, recentred on the new position, joins the Gaussian-mixture sample
   space; every ``train_gap + 1`` frames the filter is refined by warm-started CG.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cftrack_cli.cf.eco_filter import SolverParams
from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.stage import FeatureStage
from cftrack_cli.trackers.eco_learner import ECOLearner
from cftrack_cli.trackers.host import LayeredHost
from cftrack_cli.trackers.layers import FeatureLayer
from cftrack_cli.trackers.registry import register

__all__ = ["HC_LAYERS", "ECOParams", "ECOTracker", "FeatureLayer"]

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
    redetect: bool = False  # lost frames also search around the sample (engine)
    # ... and move where it scores at least this: on the dev benchmark 2% of failed frames
    # (IoU < 0.05) score 0.25 or more in `eco-student`, 70% of tracked ones (IoU > 0.3).
    redetect_threshold: float = 0.25
    redetect_every: int = 4  # ... on every this-many-th frame of a run of lost frames

    def __post_init__(self) -> None:
        if self.redetect_every < 1:
            raise ValueError(f"redetect_every must be at least 1, not {self.redetect_every}")


@register("eco-hc", "ECO (CVPR 2017) with fHOG + ColorNames, fDSST scale; lost flag")
class ECOTracker(LayeredHost):
    """ECO over the feature layers of :class:`ECOParams`, on the tracking engine
    (:mod:`cftrack_cli.trackers.engine`) with :class:`~cftrack_cli.trackers.eco_learner.
    ECOLearner`; ``score`` is the continuous score's maximum and ``lost`` flags frames whose
    score fell below ``lost_threshold``."""

    params: ECOParams

    def __init__(self, params: ECOParams | None = None) -> None:
        super().__init__()
        self.params = params or ECOParams()

    def _learner(
        self, frame: np.ndarray, stage: FeatureStage, target: TargetGeometry
    ) -> ECOLearner:
        return ECOLearner(stage, target, self._layers(frame), self.params, self.timer)
