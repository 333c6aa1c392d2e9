"""``eco-hc``: ECO (Danelljan et al., "ECO: Efficient Convolution Operators for Tracking", CVPR
2017) on hand-crafted features.

The core is feature-agnostic: :class:`ECOParams.layers` lists :class:`FeatureLayer` specs, each
a :class:`~cftrack_cli.features.base.FeatureExtractor` at its own cell size (stride) with its
own projected dimension, so deep CNN layers plug in as more layers. Per frame:

1. crop one square sample around the target, extract every layer, normalise, project with the
   layer's fixed matrix, window, and interpolate onto the continuous domain (Fourier);
2. score = sum over layers of filter * sample; maximise it (grid search + Newton);
3. the fDSST scale filter updates the size;
4. the detection sample, recentred on the new position, joins the Gaussian-mixture sample
   space; every ``train_gap + 1`` frames the filter is refined by warm-started CG.

The maths lives in :mod:`cftrack_cli.cf` (``interpolation``, ``regularization``,
``optimization``, ``sample_space``, ``eco_filter``, ``localization``, ``scale``); target size
by :mod:`cftrack_cli.trackers.scale_estimation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.cf.eco_filter import (
    ECOFilter,
    SolverParams,
    gaussian_label_spectrum,
    project_channels,
)
from cftrack_cli.cf.fourier import hann_window
from cftrack_cli.cf.interpolation import half_size, interpolate, shift_phase
from cftrack_cli.cf.localization import Peak, maximize_score
from cftrack_cli.cf.regularization import SpatialRegularizer, reg_window_coefficients
from cftrack_cli.cf.sample_space import SampleSpace
from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.deep import CNNFeatures
from cftrack_cli.features.handcrafted import FHOG, ColorNames, Grayscale, is_grayscale
from cftrack_cli.features.patches import crop_resize, window_span
from cftrack_cli.trackers.base import CentredTracker, TrackResult
from cftrack_cli.trackers.registry import register
from cftrack_cli.trackers.scale_estimation import ScaleEstimator

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
    # Confidence below this flags the frame lost. Measured on the dev sequences: 1.5 % of
    # frames tracked with IoU > 0.3 fall below it, 41 % of frames with IoU < 0.05 do.
    lost_threshold: float = 0.15


@register("eco-hc", "ECO (CVPR 2017) with fHOG + ColorNames, fDSST scale; lost flag")
class ECOTracker(CentredTracker):
    """ECO over the feature layers of :class:`ECOParams`; ``score`` is the continuous score's
    maximum and ``lost`` flags frames whose score fell below ``lost_threshold``."""

    reports_lost = True

    def __init__(self, params: ECOParams | None = None) -> None:
        super().__init__()
        self.params = params or ECOParams()
        #: The CNN behind the deep layers, if any, and its weights file (set by the presets).
        self.network: CNNFeatures | None = None
        self.network_file: Path | None = None

    # -- set-up ----------------------------------------------------------------------------
    def _init(self, frame: np.ndarray, box: Box) -> None:
        p = self.params
        colour = not is_grayscale(frame)
        specs = [layer for layer in p.layers if layer.applies_to(colour)]
        if not specs:
            raise ValueError("no feature layer applies to this input")
        self._extractors = [s.build() for s in specs]
        cells = [e.cell_size for e in self._extractors]

        self._pos = np.array(box.center, dtype=np.float64)  # (x, y)
        target = np.array([box.w, box.h], dtype=np.float64)
        area = float(target.prod()) * p.search_area_scale**2
        if area > p.max_sample_area:
            self._scale = math.sqrt(area / p.max_sample_area)
        elif area < p.min_sample_area:
            self._scale = math.sqrt(area / p.min_sample_area)
        else:
            self._scale = 1.0
        self._base_target = target / self._scale  # in resized-sample pixels
        # A square sample that every layer tiles exactly, so all layers share one period.
        step = math.lcm(*cells)
        side = math.sqrt(float(self._base_target.prod())) * p.search_area_scale
        self._sample_px = step * max(1, round(side / step))
        period = float(self._sample_px)
        self._period = (period, period)

        grids = [(self._sample_px // c, self._sample_px // c) for c in cells]
        self._windows = [hann_window(*g)[None] for g in grids]
        sizes = [half_size(g) for g in grids]
        # A layer whose receptive-field centres sit ``offset`` px right/below its cell centres
        # (CNN layers may) is moved by that much on the continuous domain, aligning the layers.
        self._layer_phase = [
            shift_phase(s, -off, -off, self._period) if off else None
            for s, off in zip(
                sizes, (float(getattr(e, "offset", 0.0)) for e in self._extractors), strict=True
            )
        ]
        self._dims = [
            min(s.compressed_dim, e.dim) for s, e in zip(specs, self._extractors, strict=True)
        ]

        sigma = math.sqrt(float(np.floor(self._base_target).prod())) * p.output_sigma_factor
        rows = max(r for r, _ in sizes)
        cols = max(q for _, q in sizes)
        label = gaussian_label_spectrum((rows, cols), (sigma, sigma), self._period)
        target_hw = (self._base_target[1], self._base_target[0])
        regs = []
        for s in specs:
            coef = reg_window_coefficients(
                (self._sample_px, self._sample_px),
                target_hw,
                p.reg_window_min,
                s.reg_window_edge if s.reg_window_edge is not None else p.reg_window_edge,
                p.reg_window_power,
                p.reg_sparsity_threshold,
            )
            regs.append(SpatialRegularizer(coef))
        solver = replace(p.solver, cg_forget=(1 - p.learning_rate) ** p.cg_forgetting_rate)
        self._filter = ECOFilter(sizes, label, regs, solver)
        self._space = SampleSpace(
            [(d, *s) for d, s in zip(self._dims, sizes, strict=True)], p.n_samples, p.learning_rate
        )
        self._frame_no = 1
        self._since_train = 0

        # First frame: full-dimensional sample, PCA projection, joint Gauss-Newton learning.
        self._before_first_sample(frame)
        feats, origin, step_px = self._features(frame, self._pos, self._scale)
        xf = self._spectra(feats)
        phase = self._recentre(origin, step_px, self._pos, sizes)
        xf = [x * ph for x, ph in zip(xf, phase, strict=True)]
        projections = [_pca(f, d) for f, d in zip(feats, self._dims, strict=True)]
        z = [project_channels(m, x) for m, x in zip(projections, xf, strict=True)]
        self._energy = [np.abs(a) ** 2 for a in z]
        self._space.add(z)
        with self.timer.stage("learn"):
            self._filter.train_joint(xf, projections, self._energy)
        self._space.replace(0, self._filter.project(xf))

        height, width = frame.shape[:2]
        self._scaler = ScaleEstimator(p.scale, (width, height), target, p.min_target_px, self.timer)
        self._scaler.update(frame, self._centre(), target)

    def _before_first_sample(self, frame: np.ndarray) -> None:
        """Hook: the sample geometry is fixed, the first features not yet extracted."""

    # -- feature pipeline --------------------------------------------------------------------
    def _features(
        self, frame: np.ndarray, pos: np.ndarray, scale: float
    ) -> tuple[list[np.ndarray], tuple[float, float], tuple[float, float]]:
        """Normalised feature maps of every layer, the crop's image origin and pixel step."""
        window = self._sample_px * scale
        with self.timer.stage("crop"):
            patch = crop_resize(
                frame, (pos[0], pos[1]), (window, window), (self._sample_px, self._sample_px)
            )
        x0, nx = window_span(pos[0], window)
        y0, ny = window_span(pos[1], window)
        feats = []
        with self.timer.stage("features"):
            for extractor in self._extractors:
                f = extractor.extract(patch[None])[0]
                if self.params.normalize_features:
                    # ECO: sum of squares = elements (per layer), whatever the content
                    f = f * np.float32(math.sqrt(f.size / (float(np.sum(f * f)) + 1e-12)))
                feats.append(f)
        step = (nx / self._sample_px, ny / self._sample_px)
        return feats, (float(x0), float(y0)), step

    def _spectra(self, feats: list[np.ndarray]) -> list[np.ndarray]:
        a = self.params.interp_bicubic_a
        out = []
        for f, w, phase in zip(feats, self._windows, self._layer_phase, strict=True):
            xf = interpolate(f * w, a)
            out.append(xf if phase is None else xf * phase)
        return out

    def _recentre(
        self,
        origin: tuple[float, float],
        step: tuple[float, float],
        pos: np.ndarray,
        sizes: list[tuple[int, int]],
    ) -> list[np.ndarray]:
        """Phase factors that move ``pos`` to the sample centre (the training convention)."""
        dx = (pos[0] - origin[0]) / step[0] - self._period[1] / 2.0
        dy = (pos[1] - origin[1]) / step[1] - self._period[0] / 2.0
        return [shift_phase(s, dy, dx, self._period) for s in sizes]

    # -- per frame -------------------------------------------------------------------------
    def _update(self, frame: np.ndarray) -> TrackResult:
        p = self.params
        self._frame_no += 1
        feats, origin, step = self._features(frame, self._pos, self._scale)
        with self.timer.stage("fft"):
            projections = self._filter.projections
            assert projections is not None
            proj = [project_channels(m, f) for m, f in zip(projections, feats, strict=True)]
            zf = self._spectra(proj)
        with self.timer.stage("detect"):
            peak = maximize_score(self._filter.scores(zf), p.newton_iterations)
        self._pos = np.array(
            [
                origin[0] + (self._period[1] * (0.5 + peak.dx)) * step[0],
                origin[1] + (self._period[0] * (0.5 + peak.dy)) * step[1],
            ]
        )
        self._keep_inside(frame)

        self._scale *= self._scaler.estimate(frame, self._centre(), self._target_size())

        confidence = self.confidence(peak)
        lost = bool(confidence < p.lost_threshold)
        with self.timer.stage("sample_space"):
            sizes = self._filter.layout.sizes
            phase = self._recentre(origin, step, self._pos, sizes)
            sample = [z * ph for z, ph in zip(zf, phase, strict=True)]
            self._space.add(sample)
        train = self._frame_no < p.skip_after_frame or self._since_train >= p.train_gap
        if train:
            with self.timer.stage("learn"):
                lr = p.learning_rate
                self._energy = [
                    (1 - lr) * e + lr * (np.abs(z) ** 2)
                    for e, z in zip(self._energy, sample, strict=True)
                ]
                samples, weights = self._space.active()
                self._filter.train(samples, weights, self._energy)
            self._since_train = 0
        else:
            self._since_train += 1
        self._scaler.update(frame, self._centre(), self._target_size())

        return TrackResult(self.current_box(), confidence, lost=lost)

    def confidence(self, peak: Peak) -> float:
        """The continuous score's maximum (the label peaks at 1), clipped to [0, 1]."""
        return float(np.clip(peak.value, 0.0, 1.0))

    def describe(self) -> dict[str, object]:
        """Sample size and, for deep layers, the network's size and cost (what bench prints)."""
        info: dict[str, object] = {"sample_px": getattr(self, "_sample_px", None)}
        cnn = self.network
        if cnn is not None and info["sample_px"]:
            px = int(info["sample_px"])  # type: ignore[call-overload]
            info["network"] = {
                "parameters": sum(int(t.numel()) for t in cnn.net.parameters()),
                "macs": cnn.net.macs((px, px), [t.name for t in cnn.taps]),
                "taps": [t.label for t in cnn.taps],
                "file_bytes": self.network_file.stat().st_size if self.network_file else None,
            }
        return info


def _pca(feats: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim`` leading principal directions of a ``(D, h, w)`` map's channels, ``(D, dim)``."""
    x = feats.reshape(feats.shape[0], -1).astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    _, vecs = np.linalg.eigh(x @ x.T)
    return np.ascontiguousarray(vecs[:, ::-1][:, :dim]).astype(np.float32)
