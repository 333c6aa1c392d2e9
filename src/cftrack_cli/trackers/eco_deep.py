"""Deep ECO: CNN feature layers (the VGG16 teacher or a distilled student) plus fHOG.

``eco-teacher`` is the accurate, slow reference; ``eco-student`` swaps the teacher for a small
student network whose taps sit at the same strides, so the ECO machinery, its settings and its
feature geometry stay the same: only the network changes.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from cftrack_cli.errors import UsageError
from cftrack_cli.features.adaptation import AdaptReport, OnlineParams, SampleGeometry, adapt_backend
from cftrack_cli.features.backend import BackendLayer, Tap, prebuilt_extractor
from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.deep import VGG16_ECO_TAPS, TorchBackend
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.nets.tapped import TappedNet
from cftrack_cli.nets.teacher import load_teacher
from cftrack_cli.nets.weights import load_student
from cftrack_cli.trackers.eco import ECOParams, ECOTracker, FeatureLayer
from cftrack_cli.trackers.registry import register

#: Channels each CNN layer is projected to (ECO's factorised convolution), shallow to deep,
#: as ECO projected VGG-M's norm1 and relu5.
DEEP_COMPRESSED_DIMS = (16, 64)
#: The student file ``eco-student`` loads when none is named.
STUDENT_ENV = "CFTRACK_STUDENT_WEIGHTS"
DEFAULT_STUDENT = "cftrack_student.pth"


def deep_params(cnn: TorchBackend) -> ECOParams:
    """ECO's deep OTB setting on the taps of ``cnn`` (each at its own stride) plus fHOG.

    fHOG uses 4-pixel cells (ECO: 6) so that every layer tiles the sample exactly with the
    stride-16 layer (the sample side is a multiple of 16, not of 48).
    """
    cnn_layers = []
    for layer, dim in zip(cnn.layers(), DEEP_COMPRESSED_DIMS, strict=False):
        cnn_layers.append(
            FeatureLayer(
                feature=partial(prebuilt_extractor, layer),
                cell_size=layer.cell_size,
                compressed_dim=min(dim, layer.dim),
            )
        )
    return replace(
        ECOParams(),
        layers=(*cnn_layers, FeatureLayer("fhog", cell_size=4, compressed_dim=10)),
        search_area_scale=4.5,
        min_sample_area=200.0**2,
        max_sample_area=250.0**2,
        output_sigma_factor=1.0 / 12,
        # ECO's deep setting keeps 50; 30 (its hand-crafted one) measured as accurate here
        # (mean AUC over 8 starts on the dev sequences, shipped student: 0.489 vs 0.487) and
        # cuts the filter update, the largest per-frame cost once the network is small, by 40%.
        n_samples=30,
    )


@register("eco-teacher", "ECO with VGG16 conv3_3 + conv5_3 + fHOG: the accurate, slow reference")
def eco_teacher(
    *, teacher_weights: str | None = None, teacher_preprocessing: str | None = None
) -> ECOTracker:
    teacher = load_teacher(teacher_weights, teacher_preprocessing)
    cnn = TorchBackend(teacher.net, VGG16_ECO_TAPS, teacher.preprocessing)
    return _with_network(ECOTracker(deep_params(cnn)), cnn, teacher.path)


def default_student_path() -> Path:
    """``$CFTRACK_STUDENT_WEIGHTS``, else the student shipped in the project's ``weights/``."""
    env = os.environ.get(STUDENT_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[1] / "weights" / DEFAULT_STUDENT,  # in a wheel (a link in a checkout)
        here.parents[3] / "weights" / DEFAULT_STUDENT,  # a checkout without the link
    ):
        if candidate.is_file():
            return candidate.resolve()
    raise UsageError(
        f"no student weights found (weights/{DEFAULT_STUDENT}); pass --weights PATH, "
        f"NAME@PATH, or set {STUDENT_ENV}"
    )


def _student_backend(weights: str | None) -> tuple[TorchBackend, Path]:
    """The student named (or the default one) as a feature backend, and its file."""
    path = Path(weights) if weights else default_student_path()
    net, meta = load_student(path)
    return TorchBackend(net, student_taps(net, meta)), path


@register("eco-student", "ECO with the distilled student's layers + fHOG: deep features, fast")
def eco_student(*, weights: str | None = None) -> ECOTracker:
    cnn, path = _student_backend(weights)
    return _with_network(ECOTracker(deep_params(cnn)), cnn, path)


@register(
    "eco-student-online",
    "eco-student whose student is first fine-tuned on the target against its background",
)
def eco_student_online(*, weights: str | None = None, adapt_steps: int | None = None) -> ECOTracker:
    cnn, path = _student_backend(weights)
    online = OnlineParams() if adapt_steps is None else replace(OnlineParams(), steps=adapt_steps)
    return _with_network(OnlineECOTracker(deep_params(cnn), cnn, online), cnn, path)


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


def _with_network(tracker: ECOTracker, cnn: TorchBackend, path: Path | None) -> ECOTracker:
    tracker.network = cnn
    tracker.network_file = Path(path) if path else None
    return tracker


def student_taps(net: TappedNet, meta: dict) -> tuple[Tap, ...]:
    """The student layers ECO uses: those its file names, else a stride-4 and a stride-16 tap.

    VGG-M-like students (CF-VGGM) get ECO's own VGG-M choice: norm1 pooled to stride 4, and
    relu5.
    """
    chosen = meta.get("tracker_taps")
    if chosen:
        return tuple(Tap(t) for t in chosen)
    taps = net.taps
    if "norm1" in taps and "relu5" in taps:
        return (Tap("norm1", pool=2), Tap("relu5"))
    by_stride: dict[int, str] = {}
    for name, info in taps.items():
        by_stride[info.stride] = name  # the deepest tap at each stride
    if 4 in by_stride and 16 in by_stride:
        return (Tap(by_stride[4]), Tap(by_stride[16]))
    raise UsageError(
        "the student has no taps at strides 4 and 16 and its file names none ('tracker_taps')"
    )
