"""The factorised multi-layer ECO filter and the continuous score maximisation."""

import numpy as np
import pytest

from cftrack_cli.cf.eco_filter import ECOFilter, SolverParams, project_channels
from cftrack_cli.cf.fourier import hann_window
from cftrack_cli.cf.interpolation import (
    half_inner,
    half_size,
    half_spectrum,
    interpolate,
    sample_grid,
)
from cftrack_cli.cf.layout import LayerLayout, gaussian_label_spectrum
from cftrack_cli.cf.localization import maximize_score, peak_sharpness, score_at
from cftrack_cli.cf.regularization import SpatialRegularizer, reg_window_coefficients


def test_label_spectrum_is_a_unit_gaussian_at_the_origin():
    label = gaussian_label_spectrum((31, 16), (4.0, 4.0), (96.0, 96.0))
    grid = sample_grid(label, (96, 96))
    assert grid[0, 0] == pytest.approx(1.0, abs=1e-3)
    assert grid[4, 0] == pytest.approx(np.exp(-0.5), abs=1e-3)  # one sigma, 1 px per sample
    assert np.unravel_index(grid.argmax(), grid.shape) == (0, 0)


def test_layout_pads_smaller_layers_into_the_centre_rows():
    layout = LayerLayout([(5, 3), (9, 5)])
    assert layout.output == (9, 5)
    small = np.ones((5, 3))
    big = np.zeros((9, 5))
    total = layout.pad_sum([small, big])
    assert total[2:7, :3].sum() == 15 and total.sum() == 15
    np.testing.assert_array_equal(layout.crop(total, 0), small)
    with pytest.raises(ValueError):
        LayerLayout([(4, 3)])


@pytest.mark.parametrize(("uy", "ux"), [(0.0, 0.0), (0.123, -0.31), (-0.45, 0.2)])
def test_newton_finds_a_known_continuous_maximum(uy, ux):
    size = (21, 11)
    label = gaussian_label_spectrum(size, (1.3, 1.3), (21.0, 21.0))
    ky = np.arange(-10, 11)[:, None]
    kx = np.arange(11)[None, :]
    bump = label * np.exp(-2j * np.pi * (ky * uy + kx * ux))  # moved to (uy, ux) periods
    peak = maximize_score(bump, iterations=5)
    assert peak.dy == pytest.approx(uy, abs=1e-5)
    assert peak.dx == pytest.approx(ux, abs=1e-5)
    assert peak.value == pytest.approx(1.0, abs=1e-3)
    assert peak_sharpness(peak.grid, peak.value) > 10


def test_score_at_evaluates_the_continuous_score_anywhere():
    rng = np.random.default_rng(4)
    grid = rng.normal(size=(9, 13))
    sf = half_spectrum(grid) / grid.size
    for iy, ix in [(0, 0), (3, 7), (8, 12)]:  # on the grid: the sampled values
        assert score_at(sf, iy / 9, ix / 13) == pytest.approx(grid[iy, ix], abs=1e-5)
    label = gaussian_label_spectrum((21, 11), (1.3, 1.3), (21.0, 21.0))
    ky, kx = np.arange(-10, 11)[:, None], np.arange(11)[None, :]
    bump = label * np.exp(-2j * np.pi * (ky * 0.21 + kx * -0.13))
    peak = maximize_score(bump)
    assert score_at(bump, peak.dy, peak.dx) == pytest.approx(peak.value, abs=1e-9)
    assert score_at(bump, peak.dy + 0.05, peak.dx) < peak.value - 0.01


def _two_layer_problem(seed: int = 0):
    """Random textured feature maps at two resolutions (24 and 12 cells over one period)."""
    rng = np.random.default_rng(seed)
    period = 96.0
    maps = [rng.normal(size=(6, 24, 24)).astype(np.float32)]
    maps.append(rng.normal(size=(4, 12, 12)).astype(np.float32))
    windows = [hann_window(24, 24), hann_window(12, 12)]
    sizes = [half_size((24, 24)), half_size((12, 12))]
    label = gaussian_label_spectrum(sizes[0], (4.0, 4.0), (period, period))
    reg = SpatialRegularizer(reg_window_coefficients((96, 96), (24.0, 24.0)))
    solver = SolverParams(init_gn_iter=4, init_cg_iter=10)
    filt = ECOFilter(sizes, label, [reg, reg], solver)
    xf = [interpolate(m * w) for m, w in zip(maps, windows, strict=True)]
    return filt, maps, windows, xf


def _pca(x: np.ndarray, dim: int) -> np.ndarray:
    flat = x.reshape(x.shape[0], -1)
    _, vecs = np.linalg.eigh(flat @ flat.T)
    return vecs[:, ::-1][:, :dim].astype(np.float32)


def test_joint_learning_responds_at_the_origin_of_its_sample_and_reduces_the_residual():
    filt, maps, _, xf = _two_layer_problem()
    projections = [_pca(m, d) for m, d in zip(maps, (3, 2), strict=True)]
    energy = [np.abs(project_channels(p, x)) ** 2 for p, x in zip(projections, xf, strict=True)]
    residuals = filt.train_joint(xf, projections, energy)
    assert residuals[-1] < residuals[0]
    assert [p.shape for p in filt.projections] == [(6, 3), (4, 2)]
    peak = maximize_score(filt.scores(filt.project(xf)))
    assert abs(peak.dy) < 1e-3 and abs(peak.dx) < 1e-3
    assert peak.value > 0.5


def test_filter_training_lowers_the_objective_and_localises_a_shift():
    filt, maps, windows, xf = _two_layer_problem(1)
    projections = [_pca(m, d) for m, d in zip(maps, (3, 2), strict=True)]
    z = [project_channels(p, x) for p, x in zip(projections, xf, strict=True)]
    energy = [np.abs(a) ** 2 for a in z]
    filt.train_joint(xf, projections, energy)
    samples = [a[None] for a in z]
    weights = np.array([1.0])

    def objective() -> float:
        s = filt.layout.pad_sum(
            [(x * f).sum(1) for x, f in zip(samples, filt.filters, strict=True)]
        )
        data = half_inner(s[0] - filt.label, s[0] - filt.label)
        reg = sum(
            half_inner(r.apply(f), f) for r, f in zip(filt.regularizers, filt.filters, strict=True)
        )
        return data + reg

    filt.filters = [0.5 * f for f in filt.filters]  # move away from the optimum
    before = objective()
    filt.train(samples, weights, energy, iterations=10)
    assert objective() < 0.5 * before

    # A circularly shifted sample (3 cells of the fine layer = 12 px = 1/8 period down).
    shifted = [np.roll(m, 3 * m.shape[1] // 24, axis=1) for m in maps]
    zs = [
        project_channels(p, interpolate(m * w))
        for p, m, w in zip(projections, shifted, windows, strict=True)
    ]
    peak = maximize_score(filt.scores(zs))
    assert peak.dy == pytest.approx(0.125, abs=0.02)
    assert abs(peak.dx) < 0.02
