"""ECO's learner: the factorised filter with its Gaussian-mixture sample space, for one target.

It implements the engine's :class:`~cftrack_cli.trackers.engine.CFLearner`: the first frame
learns the filter and the projection matrices jointly (Gauss-Newton) from a full-dimensional
sample; later samples are projected, join the sample space, and every ``train_gap + 1``
frames the filter is refined by warm-started CG. The maths lives in :mod:`cftrack_cli.cf`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from cftrack_cli.cf.eco_filter import ECOFilter, project_channels
from cftrack_cli.cf.regularization import SpatialRegularizer, reg_window_coefficients
from cftrack_cli.cf.sample_space import SampleSpace
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.stage import FeatureStage
from cftrack_cli.timing import StageTimer
from cftrack_cli.trackers.engine import target_label

if TYPE_CHECKING:
    from cftrack_cli.trackers.eco import ECOParams
    from cftrack_cli.trackers.layers import FeatureLayer

__all__ = ["ECOLearner"]


class ECOLearner:
    """Filter, projections, sample space and update schedule of one ECO target.

    ``layers``: the ECO layer specs behind ``stage``'s extractors, in the same order.
    """

    def __init__(
        self,
        stage: FeatureStage,
        target: TargetGeometry,
        layers: Sequence[FeatureLayer],
        params: ECOParams,
        timer: StageTimer,
    ) -> None:
        p = self.params = params
        self.stage = stage
        self.timer = timer
        self.dims = [
            e.dim if s.compressed_dim is None else min(s.compressed_dim, e.dim)
            for s, e in zip(layers, stage.extractors, strict=True)
        ]
        sizes = stage.sizes
        base = target.base_size
        label = target_label(stage, target, p.output_sigma_factor)
        sample_hw = (target.sample_px[1], target.sample_px[0])
        regs = []
        for s in layers:
            coef = reg_window_coefficients(
                sample_hw,
                (base[1], base[0]),
                p.reg_window_min,
                s.reg_window_edge if s.reg_window_edge is not None else p.reg_window_edge,
                p.reg_window_power,
                p.reg_sparsity_threshold,
            )
            regs.append(SpatialRegularizer(coef))
        solver = replace(p.solver, cg_forget=(1 - p.learning_rate) ** p.cg_forgetting_rate)
        self.filter = ECOFilter(sizes, label, regs, solver)
        self.space = SampleSpace(
            [(d, *s) for d, s in zip(self.dims, sizes, strict=True)], p.n_samples, p.learning_rate
        )
        self._energy: list[np.ndarray] = []
        self._anchor: list[np.ndarray] = []  # the first frame's filter, never updated
        self._frame_no = 1
        self._since_train = 0

    def first_frame(self, maps: Sequence[np.ndarray], shift: Sequence[np.ndarray]) -> None:
        """Full-dimensional sample, PCA projection, joint Gauss-Newton learning."""
        xf = [x * ph for x, ph in zip(self.stage.spectra(maps), shift, strict=True)]
        projections = [_pca(f, d) for f, d in zip(maps, self.dims, strict=True)]
        z = [project_channels(m, x) for m, x in zip(projections, xf, strict=True)]
        self._energy = [np.abs(a) ** 2 for a in z]
        self.space.add(z)
        with self.timer.stage("learn"):
            self.filter.train_joint(xf, projections, self._energy)
        self.space.replace(0, self.filter.project(xf))
        self._anchor = [f.copy() for f in self.filter.filters]

    def anchor_scores(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        return self.filter.scores(sample, self._anchor)

    def sample(self, maps: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Maps projected with the learned matrices, then windowed and interpolated."""
        projections = self.filter.projections
        assert projections is not None
        proj = [project_channels(m, f) for m, f in zip(projections, maps, strict=True)]
        return self.stage.spectra(proj)

    def scores(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        return self.filter.scores(sample)

    def update(self, sample: Sequence[np.ndarray], shift: Sequence[np.ndarray]) -> None:
        """The recentred sample joins the sample space; sparse filter updates."""
        p = self.params
        self._frame_no += 1
        with self.timer.stage("sample_space"):
            recentred = [z * ph for z, ph in zip(sample, shift, strict=True)]
            self.space.add(recentred)
        if self._frame_no < p.skip_after_frame or self._since_train >= p.train_gap:
            with self.timer.stage("learn"):
                lr = p.learning_rate
                self._energy = [
                    (1 - lr) * e + lr * (np.abs(z) ** 2)
                    for e, z in zip(self._energy, recentred, strict=True)
                ]
                samples, weights = self.space.active()
                self.filter.train(samples, weights, self._energy)
            self._since_train = 0
        else:
            self._since_train += 1


def _pca(feats: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim`` leading principal directions of a ``(D, h, w)`` map's channels, ``(D, dim)``."""
    x = feats.reshape(feats.shape[0], -1).astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    _, vecs = np.linalg.eigh(x @ x.T)
    return np.ascontiguousarray(vecs[:, ::-1][:, :dim]).astype(np.float32)
