"""STRCF's learner: one filter, learned from every frame's sample by ADMM, no sample set.

It implements the engine's :class:`~cftrack_cli.trackers.engine.CFLearner`; the maths is
:mod:`cftrack_cli.cf.strcf`. The penalties (``temporal_weight``, the ADMM schedule, the
spatial window) are given per feature cell and per unit of feature energy, as the original's
are (its data term is a sum over cells of raw features): the learner divides them by the
cells of the largest layer and by ``feature_energy``, the mean square per element the
original's raw fHOG + ColorNames have (the stage normalises every layer to 1), so the
published values keep their meaning whatever the sample size. Blocks of layers fitted apart
(``fit_blocks_apart``) may each get their own units (``block_units``); a layer's
``feature_energy`` then stands for its own original form (the CNN layer's: min-max scaled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from cftrack_cli.cf.regularization import reg_window
from cftrack_cli.cf.strcf import STRCFFilter, grid_points
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.features.stage import FeatureStage
from cftrack_cli.timing import StageTimer
from cftrack_cli.trackers.engine import target_label

if TYPE_CHECKING:
    from cftrack_cli.trackers.strcf import STRCFParams

__all__ = ["STRCFLearner"]


class STRCFLearner:
    """The filter and its per-frame ADMM for one STRCF target."""

    def __init__(
        self,
        stage: FeatureStage,
        target: TargetGeometry,
        params: STRCFParams,
        timer: StageTimer,
        energies: Sequence[float | None] | None = None,
    ) -> None:
        p = self.params = params
        self.stage = stage
        self.timer = timer
        layer_cells = [
            (stage.sample_px[1] // e.cell_size) * (stage.sample_px[0] // e.cell_size)
            for e in stage.extractors
        ]
        cells = max(layer_cells)
        unit = 1.0 / (cells * p.feature_energy)
        n = len(layer_cells)
        blocks = _resolution_blocks(stage.sizes) if p.fit_blocks_apart else [0] * n
        energies = [p.feature_energy if e is None else e for e in (energies or [None] * n)]
        scale = _block_scale(blocks, layer_cells, energies, p.feature_energy, p.block_units)
        layer_scale = [scale[b] for b in blocks]  # block numbers run 0, 1, ...
        centre = (stage.period[0] / 2.0, stage.period[1] / 2.0)
        base_hw = (float(target.base_size[1]), float(target.base_size[0]))
        windows = []
        for size, s_l in zip(stage.sizes, layer_scale, strict=True):
            ys, xs = grid_points(size, stage.period)
            w = reg_window(
                ys - centre[0],
                xs - centre[1],
                base_hw,
                p.reg_window_min,
                p.reg_window_edge,
                p.reg_window_power,
            )
            windows.append(w * np.sqrt(unit * s_l))
        s = p.admm
        schedule = replace(s, init=s.init * unit, cap=s.cap * unit)
        label = target_label(stage, target, p.output_sigma_factor)
        self.filter = STRCFFilter(
            stage.sizes, label, windows, stage.period, schedule, blocks, scale
        )
        self.mu = p.temporal_weight * unit
        self._anchor: list[np.ndarray] = []  # the first frame's filter, never updated

    def first_frame(self, maps: Sequence[np.ndarray], shift: Sequence[np.ndarray]) -> None:
        """Learn from the first sample alone (no previous filter: no temporal term)."""
        xf = [x * ph for x, ph in zip(self.stage.spectra(maps), shift, strict=True)]
        with self.timer.stage("learn"):
            self.filter.learn(xf, mu=0.0)
        self._anchor = [f.copy() for f in self.filter.filters]

    def anchor_scores(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        """Scores under the first frame's filter (the engine's anchored confidence)."""
        return self.filter.scores(sample, self._anchor)

    def sample(self, maps: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Maps windowed and interpolated onto the continuous domain (no projection)."""
        return self.stage.spectra(maps)

    def scores(self, sample: Sequence[np.ndarray]) -> np.ndarray:
        return self.filter.scores(sample)

    def update(self, sample: Sequence[np.ndarray], shift: Sequence[np.ndarray]) -> None:
        """One ADMM solve on the recentred sample, kept close to the last filter."""
        with self.timer.stage("learn"):
            recentred = [z * ph for z, ph in zip(sample, shift, strict=True)]
            self.filter.learn(recentred, mu=self.mu)


def _resolution_blocks(sizes: Sequence[tuple[int, int]]) -> list[int]:
    """A block number per layer: layers of one resolution (spectrum size) share a block."""
    distinct = list(dict.fromkeys(sizes))
    return [distinct.index(s) for s in sizes]


def _block_scale(
    blocks: Sequence[int],
    layer_cells: Sequence[int],
    energies: Sequence[float],
    feature_energy: float,
    units: str,
) -> list[float]:
    """Per block (block-number order), the factor on the penalties that puts the block in the
    units ``units`` names (see :class:`~cftrack_cli.trackers.strcf.STRCFParams`); the block of
    the largest layer at ``feature_energy`` keeps factor 1 in every mode.

    The stage gives every layer unit mean square and Fourier-series coefficients (each layer's
    per-frequency energy is its channels over its cells); the original's unnormalised DFTs give
    a block its cells times its raw mean square per frequency, against penalties multiplied by
    the largest block's cells.
    """
    n_max = max(layer_cells)
    out = []
    for b in sorted(set(blocks)):
        members = [i for i, x in enumerate(blocks) if x == b]
        n_b = layer_cells[members[0]]
        e_b = float(np.mean([energies[i] for i in members]))
        if units == "released":
            out.append((n_max / n_b) ** 2 * feature_energy / e_b)
        elif units == "standalone":
            out.append((n_max / n_b) * feature_energy / e_b)
        elif units == "shared":
            out.append(1.0)
        else:
            raise ValueError(f"unknown block units {units!r}")
    return out
