"""The correlation-filter tracking engine: what every CF host does around its learner.

Per target the engine keeps a :class:`~cftrack_cli.features.geometry.TargetGeometry`, a
:class:`CFLearner` and a scale estimator; the :class:`~cftrack_cli.features.stage.
FeatureStage` (crops, feature layers, normalisation, windowing, interpolation) is shared
machinery the host builds once per sample size. Per frame:

1. the stage cuts the target's sample and extracts its maps;
2. the learner turns them into its sample spectra and scores them; the engine maximises the
   continuous score (grid search + Newton) and moves the target there;
3. the fDSST scale filter updates the size;
4. the learner learns from the sample, recentred on the new position.

With ``redetect``, a frame whose confidence falls below ``lost_threshold`` also scores samples
around the sample (:meth:`CFTracker._redetect`); where one scores ``redetect_threshold`` or
more, the target is taken to be found there, and steps 3 and 4 run at that place.

A host (ECO today, STRCF next) is a subclass that says how the geometry is chosen
(:meth:`CFTracker._geometry`), which stage it uses (:meth:`CFTracker._stage`) and which
learner (:meth:`CFTracker._learner`). The learner protocol is three calls: learn the first
frame, score a sample, update with a sample.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple, Protocol

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.cf.layout import gaussian_label_spectrum
from cftrack_cli.cf.localization import Peak, maximize_score, score_at
from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.stage import FeatureStage
from cftrack_cli.trackers.base import CentredTracker, TrackResult
from cftrack_cli.trackers.scale_estimation import ScaleEstimator

__all__ = ["CFLearner", "CFTracker", "EngineSettings", "target_label"]


class CFLearner(Protocol):
    """A correlation filter with its memory of samples, for one target.

    ``maps`` are one sample's per-layer feature maps ``(C, h, w)`` from the stage; a *sample* is
    whatever the learner makes of them (ECO: projected spectra); ``shift`` per layer phase
    factors that move the target to the sample's centre (the training convention).
    """

    def first_frame(self, maps: Sequence[np.ndarray], shift: Sequence[np.ndarray]) -> None:
        """Learn from the first frame's sample."""

    def sample(self, maps: Sequence[np.ndarray]) -> list[np.ndarray]:
        """This learner's representation of a frame's sample (per-layer spectra)."""

    def scores(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        """Half-layout Fourier coefficients of the score over the sample (on the output grid
        of the stage's largest layer); their maximum is where the target is."""

    def update(self, sample: Sequence[np.ndarray], shift: Sequence[np.ndarray]) -> None:
        """Learn from ``sample``, the target now at ``shift``."""

    def anchor_scores(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        """Score coefficients of ``sample`` under the filter learnt on the first frame alone
        (kept unchanged), in the layout of :meth:`scores`."""


def target_label(
    stage: FeatureStage, target: TargetGeometry, output_sigma_factor: float
) -> np.ndarray:
    """The score a learner fits to its recentred samples: a Gaussian peaked at zero
    displacement, ``output_sigma_factor`` times the target's side wide (sample pixels), as
    half-layout coefficients on the output grid of ``stage``'s largest layer."""
    sigma = math.sqrt(float(np.floor(target.base_size).prod())) * output_sigma_factor
    rows = max(r for r, _ in stage.sizes)
    cols = max(q for _, q in stage.sizes)
    return gaussian_label_spectrum((rows, cols), (sigma, sigma), stage.period)


class EngineSettings(Protocol):
    """The settings the engine itself reads from a host's parameters object."""

    newton_iterations: int  # refinement steps of the score maximum
    scale: ScaleParams  # the fDSST scale filter
    min_target_px: float  # the estimated target never shrinks below this (pixels)
    lost_threshold: float  # confidence below this flags the frame lost
    anchored_confidence: bool  # confidence also asks the first frame's filter (see confidence)
    freeze_when_lost: bool  # a frame flagged lost teaches neither the filter nor the scale
    redetect: bool  # a frame flagged lost also searches around the sample (see _redetect)
    redetect_threshold: float  # ... and moves where that search scores at least this
    redetect_every: int  # ... on every this-many-th frame of a run of lost frames


class _Detection(NamedTuple):
    """A sample scored by the filter: its crop grid (top-left frame pixel, frame pixels per
    sample pixel), spectra, score maximum and the confidence there."""

    origin: tuple[float, float]
    step: tuple[float, float]
    sample: list[np.ndarray]
    peak: Peak
    confidence: float


class CFTracker(CentredTracker):
    """The engine as a tracker; a host subclasses it (see the module notes).

    ``score`` is the continuous score's maximum and ``lost`` flags frames whose score fell
    below ``lost_threshold``.
    """

    reports_lost = True
    params: EngineSettings

    def __init__(self) -> None:
        super().__init__()
        self.stage: FeatureStage | None = None
        self.learner: CFLearner | None = None

    # -- what a host decides --------------------------------------------------------------
    @abstractmethod
    def _geometry(self, frame: np.ndarray, box: Box) -> TargetGeometry:
        """The target's geometry (the sample's base window and size) for a first box."""

    @abstractmethod
    def _stage(self, frame: np.ndarray, target: TargetGeometry) -> FeatureStage:
        """The feature stage for samples of ``target.sample_px``."""

    @abstractmethod
    def _learner(self, frame: np.ndarray, stage: FeatureStage, target: TargetGeometry) -> CFLearner:
        """A new learner for one target."""

    # -- the engine ---------------------------------------------------------------------------
    def _init(self, frame: np.ndarray, box: Box) -> None:
        self.target = self._geometry(frame, box)
        self.stage = stage = self._stage(frame, self.target)
        self.learner = self._learner(frame, stage, self.target)
        (maps,) = stage.maps(frame, [self.target])
        self.learner.first_frame(maps, stage.recentre(self.target))
        height, width = frame.shape[:2]
        size = np.array([box.w, box.h], dtype=np.float64)
        p = self.params
        self._scaler = ScaleEstimator(p.scale, (width, height), size, p.min_target_px, self.timer)
        self._scaler.update(frame, self._centre(), size)
        # The last centre not flagged lost, the frames since it, the smoothed velocity there.
        self._sure_centre, self._frames_since_sure = self.target.centre.copy(), 0
        self._velocity = np.zeros(2)

    def _update(self, frame: np.ndarray) -> TrackResult:
        assert self.stage is not None and self.learner is not None
        p = self.params
        target = self.target
        origin, step = target.crop_grid()
        (maps,) = self.stage.maps(frame, [target])
        sample, peak, confidence = self._detect(maps)
        lost = bool(confidence < p.lost_threshold)
        # The n-th lost frame in a row searches when n is a multiple of redetect_every: a dip
        # of a frame or two is rarely a loss, and a search then can only jump to a lookalike.
        run = self._frames_since_sure + 1
        if lost and p.redetect and run % p.redetect_every == 0:
            found = self._redetect(frame)
            if found.confidence >= p.redetect_threshold:  # found again: track from there
                origin, step, sample, peak, confidence = found
                lost = False
        period = self.stage.period
        target.centre = np.array(
            [
                origin[0] + (period[1] * (0.5 + peak.dx)) * step[0],
                origin[1] + (period[0] * (0.5 + peak.dy)) * step[1],
            ]
        )
        self._keep_inside(frame)
        if p.redetect:
            self._follow(target.centre, lost)

        target.scale *= self._scaler.estimate(frame, self._centre(), self._target_size())

        if not (lost and p.freeze_when_lost):
            self.learner.update(sample, self.stage.shift_to_centre(origin, step, target.centre))
            self._scaler.update(frame, self._centre(), self._target_size())
        return TrackResult(self.current_box(), confidence, lost=lost)

    def _detect(self, maps: Sequence[np.ndarray]) -> tuple[list[np.ndarray], Peak, float]:
        """One sample's spectra, its score maximum and the confidence there."""
        assert self.learner is not None
        with self.timer.stage("fft"):
            sample = self.learner.sample(maps)
        with self.timer.stage("detect"):
            peak = maximize_score(self.learner.scores(sample), self.params.newton_iterations)
        return sample, peak, self.confidence(peak, sample)

    def _follow(self, centre: np.ndarray, lost: bool) -> None:
        """Keep the target's motion from frames not flagged lost: where to look for it after
        an occlusion (frame pixels per frame, smoothed over about two frames)."""
        self._frames_since_sure += 1
        if lost:
            return
        velocity = (centre - self._sure_centre) / self._frames_since_sure
        self._velocity = 0.5 * self._velocity + 0.5 * velocity
        self._sure_centre, self._frames_since_sure = centre.copy(), 0

    def _redetect(self, frame: np.ndarray) -> _Detection:
        """Search for a lost target beyond the sample: the filter on 8 samples half a window
        away (the sample scores a target well up to about a quarter window off its centre) and
        on one where the target's last sure motion would have taken it. The best of them."""
        assert self.stage is not None
        target = self.target
        offsets = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]
        centres = [target.centre + np.array(d) * target.window / 2 for d in offsets]
        # _follow has not counted this frame yet: it is one more after the last sure one.
        centres.append(self._sure_centre + self._velocity * (self._frames_since_sure + 1))
        height, width = frame.shape[:2]
        candidates = []
        for centre in centres:
            moved = replace(target, centre=np.asarray(centre, dtype=np.float64))
            moved.keep_inside(width, height)
            candidates.append(moved)
        best: _Detection | None = None
        for moved, maps in zip(candidates, self.stage.maps(frame, candidates), strict=True):
            sample, peak, confidence = self._detect(maps)
            if best is None or confidence > best.confidence:
                best = _Detection(*moved.crop_grid(), sample, peak, confidence)
        assert best is not None
        return best

    def confidence(self, peak: Peak, sample: Sequence[np.ndarray]) -> float:
        """How sure the tracker is that the box is on the target, in [0, 1].

        The continuous score's maximum (the label peaks at 1) alone stays high when the filter
        has drifted onto something else and learnt it. With ``anchored_confidence`` it is the
        geometric mean of that maximum and the first frame's filter's score at the same place
        (when lower than the maximum): a drifted filter still scores its new object well, the
        first frame's does not.
        """
        value = float(np.clip(peak.value, 0.0, 1.0))
        if not self.params.anchored_confidence:
            return value
        assert self.learner is not None
        with self.timer.stage("detect"):
            anchor = score_at(self.learner.anchor_scores(sample), peak.dy, peak.dx)
        # The anchor only ever lowers the score: a first frame's filter that likes the place
        # more than today's does (the target left, the background stayed) is no reassurance.
        return min(value, math.sqrt(value * float(np.clip(anchor, 0.0, 1.0))))
