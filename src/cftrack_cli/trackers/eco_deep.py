"""Deep ECO: CNN feature layers (the VGG16 teacher or a distilled student) plus fHOG.

``eco-teacher`` is the accurate, slow reference; ``eco-student`` swaps the teacher for a small
student network whose taps sit at the same strides, so the ECO machinery, its settings and its
feature geometry stay the same: only the network changes.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from cftrack_cli.features.adaptation import AdaptReport, OnlineParams, SampleGeometry, adapt_backend
from cftrack_cli.features.backend import BackendLayer, prebuilt_extractor
from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.deep import TorchBackend
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.trackers.eco import ECOParams, ECOTracker, FeatureLayer
from cftrack_cli.trackers.networks import student_backend, teacher_backend, with_network
from cftrack_cli.trackers.registry import register

#: Channels each CNN layer is projected to (ECO's factorised convolution): shallow layers
#: (cell < 16) and deep ones, as ECO projected VGG-M's norm1 and relu5.
DEEP_COMPRESSED_DIMS = (16, 64)

#: Whether ECO reads only the stride-16 layer of VGG16-aligned networks (the teacher and
#: cftrack's students), beside fHOG and ColorNames. On the dev benchmark (3 starts, shipped
#: student) that layer alone scored 0.500 +- 0.008, both layers 0.478 +- 0.015 without
#: ColorNames and 0.467 +- 0.011 with them: the stride-4 layer costs ECO more than it adds
#: (docs/results.md, "Which layers deep ECO reads"). CF-VGGM keeps ECO's VGG-M pair.
DEEPEST_ONLY = True


def deep_params(cnn: TorchBackend) -> ECOParams:
    """ECO's deep OTB setting on the taps of ``cnn`` (each at its own stride) plus fHOG and
    ColorNames (colour frames), as deep ECO added HOG and ColorNames to VGG-M's layers.

    fHOG uses 4-pixel cells (ECO: 6) so that every layer tiles the sample exactly with the
    stride-16 layer (the sample side is a multiple of 16, not of 48).
    """
    shallow_dim, deep_dim = DEEP_COMPRESSED_DIMS
    cnn_layers = [
        FeatureLayer(
            feature=partial(prebuilt_extractor, layer),
            cell_size=layer.cell_size,
            compressed_dim=min(deep_dim if layer.cell_size >= 16 else shallow_dim, layer.dim),
        )
        for layer in cnn.layers()
    ]
    return replace(
        ECOParams(),
        layers=(
            *cnn_layers,
            FeatureLayer("fhog", cell_size=4, compressed_dim=10),
            FeatureLayer("colornames", cell_size=4, compressed_dim=3, frames="color"),
        ),
        search_area_scale=4.5,
        min_sample_area=200.0**2,
        max_sample_area=250.0**2,
        output_sigma_factor=1.0 / 12,
        # ECO's deep setting keeps 50; 30 (its hand-crafted one) measured as accurate here
        # (mean AUC over 8 starts on the dev sequences, shipped student: 0.489 vs 0.487) and
        # cuts the filter update, the largest per-frame cost once the network is small, by 40%.
        n_samples=30,
    )


@register("eco-teacher", "ECO with VGG16 conv5_3 + fHOG + ColorNames: the accurate, slow reference")
def eco_teacher(
    *, teacher_weights: str | None = None, teacher_preprocessing: str | None = None
) -> ECOTracker:
    cnn, path = teacher_backend(teacher_weights, teacher_preprocessing, deepest_only=DEEPEST_ONLY)
    return with_network(ECOTracker(deep_params(cnn)), cnn, path)


@register(
    "eco-student", "ECO with the distilled student's deep layer + fHOG + ColorNames: fast, deep"
)
def eco_student(*, weights: str | None = None) -> ECOTracker:
    cnn, path = student_backend(weights, deepest_only=DEEPEST_ONLY)
    return with_network(ECOTracker(deep_params(cnn)), cnn, path)


@register(
    "eco-student-online",
    "eco-student whose student is first fine-tuned on the target against its background",
)
def eco_student_online(*, weights: str | None = None, adapt_steps: int | None = None) -> ECOTracker:
    cnn, path = student_backend(weights, deepest_only=DEEPEST_ONLY)
    online = OnlineParams() if adapt_steps is None else replace(OnlineParams(), steps=adapt_steps)
    return with_network(OnlineECOTracker(deep_params(cnn), cnn, online), cnn, path)


class OnlineECOTracker(ECOTracker):
    """ECO on a student that is adapted to each new target
    (:mod:`cftrack_cli.features.adaptation`).

    On :meth:`init` a copy of the loaded student is fine-tuned on the first frame, once ECO has
    fixed its sample geometry and before it extracts its first features; ``self.network`` then
    is the target's own backend on the copy. The loaded backend is kept as it is, so every
    init starts from it, and other trackers sharing it are not affected.
    """

    def __init__(self, params: ECOParams, cnn: TorchBackend, online: OnlineParams) -> None:
        super().__init__(params)
        self.online = online
        self._loaded = cnn  # never trained
        #: What the last adaptation did (loss before/after, seconds).
        self.adaptation: AdaptReport | None = None

    def _extractors(self, frame: np.ndarray, target: TargetGeometry) -> list[FeatureExtractor]:
        # Adapt on exactly the sample ECO is about to learn from.
        geometry = SampleGeometry(
            centre=target.centre_xy(),
            window=float(target.window[0]),
            sample_px=int(target.sample_px[0]),
            target_px=(float(target.base_size[0]), float(target.base_size[1])),
        )
        with self.timer.stage("adapt"):
            adapted, self.adaptation = adapt_backend(self._loaded, frame, geometry, self.online)
        self.network = adapted
        # This target's layers read its adapted copy; hand-crafted layers stay as they are.
        return [
            adapted.layer(e.name) if isinstance(e, BackendLayer) else e
            for e in super()._extractors(frame, target)
        ]
