"""The tracking engine with a toy feature backend and a toy learner: no ECO code involved.

A new CF host (STRCF) or runtime (an exported network) plugs in at these two seams; this
test shows that the engine's geometry, feature stage, localisation and scale handling work
with any backend and learner that keep the protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from cftrack_cli.boxes import Box, iou
from cftrack_cli.cf.layout import gaussian_label_spectrum
from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.features.backend import FeatureBackend, Tap, TapLayout
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.stage import FeatureStage
from cftrack_cli.nets.preprocessing import preset
from cftrack_cli.trackers.eco import ECOTracker
from cftrack_cli.trackers.engine import CFTracker
from cftrack_cli.trackers.strcf import STRCFTracker
from synthetic import moving_square_frames


class MeanIntensityBackend(FeatureBackend):
    """A 'network' with one tap: mean intensity and its deviation per 4x4 cell."""

    def __init__(self) -> None:
        super().__init__()
        self.taps = (Tap("cells"),)
        self.preprocessing = preset("caffe")

    def layout(self, tap: Tap) -> TapLayout:
        return TapLayout(channels=2, cell_size=4, offset=0.0)

    def _compute(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        n, h, w, _ = patches.shape
        grey = patches.astype(np.float32).mean(axis=-1) / 255.0 - 0.5
        cells = grey[:, : h // 4 * 4, : w // 4 * 4].reshape(n, h // 4, 4, w // 4, 4)
        maps = np.stack([cells.mean(axis=(2, 4)), cells.std(axis=(2, 4))], axis=1)
        return {"cells": maps.astype(np.float32)}


class MosseLearner:
    """A single-sample closed-form filter with a running average (MOSSE on spectra)."""

    def __init__(self, stage: FeatureStage, sigma: float, rate: float = 0.05) -> None:
        self.stage = stage
        self.rate = rate
        (size,) = stage.sizes
        self.label = gaussian_label_spectrum(size, (sigma, sigma), stage.period)
        self.updates = 0

    def _terms(self, sample: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        (x,) = sample
        return np.conj(x) * self.label, (np.abs(x) ** 2).sum(axis=0) + 1e-2

    def first_frame(self, maps: Sequence[np.ndarray], shift: Sequence[np.ndarray]) -> None:
        sample = [x * ph for x, ph in zip(self.stage.spectra(maps), shift, strict=True)]
        self.num, self.den = self._terms(sample)

    def sample(self, maps: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self.stage.spectra(maps)

    def scores(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        (z,) = sample
        return (self.num / self.den * z).sum(axis=0)

    def update(self, sample: Sequence[np.ndarray], shift: Sequence[np.ndarray]) -> None:
        num, den = self._terms([x * ph for x, ph in zip(sample, shift, strict=True)])
        self.num = (1 - self.rate) * self.num + self.rate * num
        self.den = (1 - self.rate) * self.den + self.rate * den
        self.updates += 1


@dataclass
class ToySettings:
    newton_iterations: int = 5
    scale: ScaleParams = field(default_factory=ScaleParams)
    min_target_px: float = 5.0
    lost_threshold: float = 0.1
    anchored_confidence: bool = False
    freeze_when_lost: bool = False
    redetect: bool = False
    redetect_threshold: float = 0.25
    redetect_every: int = 4


class ToyHost(CFTracker):
    """A host: a square window three target sides wide, resized to 64 px; the toy pieces."""

    def __init__(self, backend: FeatureBackend) -> None:
        super().__init__()
        self.params = ToySettings()
        self.backend = backend

    def _geometry(self, frame: np.ndarray, box: Box) -> TargetGeometry:
        side = 3.0 * float(np.sqrt(box.w * box.h))
        return TargetGeometry(
            centre=np.array(box.center, dtype=np.float64),
            base_size=np.array([box.w, box.h], dtype=np.float64),
            base_window=np.array([side, side]),
            sample_px=(64, 64),
        )

    def _stage(self, frame: np.ndarray, target: TargetGeometry) -> FeatureStage:
        return FeatureStage(self.backend.layers(), target.sample_px, timer=self.timer)

    def _learner(
        self, frame: np.ndarray, stage: FeatureStage, target: TargetGeometry
    ) -> MosseLearner:
        sigma = float(np.sqrt(target.base_size.prod())) * 64 / target.base_window[0] / 8
        return MosseLearner(stage, sigma)


def test_a_toy_learner_and_backend_track_a_synthetic_target_on_the_engine():
    frames, boxes = moving_square_frames(n=40, size=(160, 120), step=(1.5, 0.75))
    backend = MeanIntensityBackend()
    tracker = ToyHost(backend)
    tracker.init(frames[0], Box(*boxes[0]))
    results = [tracker.update(f) for f in frames[1:]]
    overlaps = [iou(r.box, Box(*b)) for r, b in zip(results, boxes[1:], strict=True)]
    assert np.mean(overlaps) > 0.7 and min(overlaps) > 0.4
    # the target moved ~40 px: a tracker that stood still would have lost it
    assert iou(Box(*boxes[0]), Box(*boxes[-1])) < 0.3
    assert backend.forward_count == len(frames)  # one backend pass per frame
    assert tracker.learner is not None and tracker.learner.updates == len(frames) - 1
    assert all(0.0 <= r.score <= 1.0 for r in results)
    assert not any(r.lost for r in results)


def test_the_stage_serves_several_targets_in_one_backend_pass():
    frames, _ = moving_square_frames(n=1, size=(160, 120))
    host = ToyHost(MeanIntensityBackend())
    targets = [host._geometry(frames[0], Box(*b)) for b in ([20, 20, 28, 28], [90, 60, 30, 24])]
    backend = MeanIntensityBackend()
    stage = FeatureStage(backend.layers(), (64, 64))
    both = stage.maps(frames[0], targets)
    assert backend.forward_count == 1
    for target, maps in zip(targets, both, strict=True):
        (alone,) = stage.maps(frames[0], [target])
        np.testing.assert_allclose(maps[0], alone[0], rtol=1e-6)
    assert not np.allclose(both[0][0], both[1][0])  # two different crops
    # normalised: unit mean square per element, whatever the content
    assert np.mean(both[1][0] ** 2) == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("host", [ECOTracker, STRCFTracker], ids=["eco", "strcf"])
def test_the_anchor_is_the_first_frames_filter_whatever_came_after(host):
    """The anchored confidence's anchor: a learner's first filter, unchanged by its updates."""
    frames, boxes = moving_square_frames(n=20, size=(160, 120))
    adapted, fresh = host(), host()
    adapted.init(frames[0], Box(*boxes[0]))
    fresh.init(frames[0], Box(*boxes[0]))
    for frame in frames[1:]:
        adapted.update(frame)
    (maps,) = adapted.stage.maps(frames[-1], [adapted.target])
    sample = adapted.learner.sample(maps)
    np.testing.assert_allclose(
        adapted.learner.anchor_scores(sample), fresh.learner.scores(sample), rtol=1e-5, atol=1e-7
    )
    assert not np.allclose(adapted.learner.scores(sample), fresh.learner.scores(sample), atol=1e-4)
