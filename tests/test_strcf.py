"""STRCF: its ADMM against the closed form, the temporal term, localisation, the presets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cftrack_cli.boxes import Box, iou
from cftrack_cli.cf.interpolation import half_weights, interpolate, shift_phase
from cftrack_cli.cf.layout import gaussian_label_spectrum
from cftrack_cli.cf.strcf import (
    ADMMSchedule,
    STRCFFilter,
    from_grid,
    grid_points,
    grid_shape,
    to_grid,
)
from cftrack_cli.evaluation.datasets import find_dataset
from cftrack_cli.features.deep import TorchBackend
from cftrack_cli.io.frames import read_images
from cftrack_cli.nets.cf_vggm import cf_vggm_spec
from cftrack_cli.nets.preprocessing import CAFFE_VGG
from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
from cftrack_cli.nets.weights import save_student
from cftrack_cli.trackers import create_tracker
from cftrack_cli.trackers.networks import mid_level_tap, student_backend
from cftrack_cli.trackers.session import track_frames
from cftrack_cli.trackers.strcf import STRCFParams, STRCFTracker
from cftrack_cli.trackers.strcf_deep import deep_strcf_params
from conftest import shared_path
from synthetic import moving_square_frames

SIZE = (7, 4)  # a half-layout spectrum: rows -3..3, columns 0..3; it needs a 7 x 7 grid ...
GRID = (8, 8)  # ... and the spatial step uses 8 x 8 (fast FFT lengths)
PERIOD = (20.0, 20.0)


def _problem(seed: int = 0, channels: int = 2):
    """A small sample (from real maps, so Hermitian), a label and a spatial window."""
    rng = np.random.default_rng(seed)
    sample = [interpolate(rng.normal(size=(channels, 7, 7)).astype(np.float32))]
    label = gaussian_label_spectrum(SIZE, (2.0, 2.0), PERIOD)
    ys, xs = grid_points(SIZE, PERIOD)
    window = 0.05 + 0.5 * ((ys[:, None] - 10.0) ** 2 + (xs[None, :] - 10.0) ** 2) / 100.0
    return sample, label, window


def _closed_form(sample, label, window, mu, previous):
    """The minimiser of STRCF's objective by dense least squares, its Fourier series written
    out here (independent of the module's FFTs). The unknowns are the filter's values on the
    7 x 7 grid that holds its spectrum; the spatial penalty is on the 8 x 8 grid."""
    (z,) = sample
    channels = z.shape[0]
    ky = np.arange(-(SIZE[0] // 2), SIZE[0] // 2 + 1)
    kx = np.arange(SIZE[1])
    py = (np.arange(7) + 0.5) * PERIOD[0] / 7
    px = (np.arange(7) + 0.5) * PERIOD[1] / 7

    def waves(ys, xs):  # (frequencies, points): exp(2 pi i k t / T)
        arg = ky[:, None, None, None] * ys[None, None, :, None] / PERIOD[0]
        arg = arg + kx[None, :, None, None] * xs[None, None, None, :] / PERIOD[1]
        return np.exp(2j * np.pi * arg).reshape(len(ky) * len(kx), len(ys) * len(xs))

    dft = np.conj(waves(py, px)) / 49  # 7 x 7 values -> coefficients
    weight = np.tile(half_weights(SIZE[1]), len(ky))  # full-spectrum count of each coefficient
    ys, xs = grid_points(SIZE, PERIOD)
    # values on the 8 x 8 grid from coefficients (real: column 0 once, the others twice)
    synth = (weight[:, None] * waves(ys, xs)).T
    sw = np.sqrt(weight)[:, None]
    zf = z.reshape(channels, -1)
    eye = np.eye(channels)
    data = np.concatenate([sw * zf[c][:, None] * dft for c in range(channels)], axis=1)
    temporal = np.kron(eye, np.sqrt(mu) * sw * dft)
    spatial = np.kron(eye, (window.ravel() / 8)[:, None] * (synth @ dft).real)
    target = np.concatenate([np.sqrt(mu) * sw[:, 0] * p.ravel() for p in previous[0]])
    y = sw[:, 0] * label.ravel()
    lhs = np.vstack([data.real, data.imag, spatial, temporal.real, temporal.imag])
    rhs = np.concatenate([y.real, y.imag, np.zeros(spatial.shape[0]), target.real, target.imag])
    g = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    return (dft @ g.reshape(channels, 49).T).T.reshape(channels, *SIZE)


def test_the_grid_holds_a_half_spectrum_exactly():
    rng = np.random.default_rng(1)
    f = interpolate(rng.normal(size=(3, 7, 7)))
    step = shift_phase(SIZE, 0.3, -1.7, PERIOD)
    for grid, phase in ((None, None), (None, step), (GRID, step), ((9, 15), None)):
        np.testing.assert_allclose(from_grid(to_grid(f, grid, phase), SIZE, phase), f, atol=1e-6)
    assert grid_shape(SIZE) == GRID and grid_shape((53, 27)) == (54, 54)


@pytest.mark.parametrize("mu", [0.0, 0.3])
def test_admm_reaches_the_closed_form_minimiser(mu):
    sample, label, window = _problem()
    previous = [interpolate(np.random.default_rng(2).normal(size=(2, 7, 7)).astype(np.float32))]
    expected = _closed_form(sample, label, window, mu, previous)
    admm = STRCFFilter([SIZE], label, [window], PERIOD, ADMMSchedule(500, 0.01, 1.1, 0.1))
    admm.filters = previous
    (got,) = admm.learn(sample, mu)
    np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())
    # two iterations (the published schedule) are not there yet: the test can tell them apart
    short = STRCFFilter([SIZE], label, [window], PERIOD, ADMMSchedule(2, 1.0, 10.0, 0.1))
    short.filters = previous
    (rough,) = short.learn(sample, mu)
    assert np.abs(rough - expected).max() > 1e-2 * np.abs(expected).max()


def test_a_large_temporal_weight_keeps_the_previous_filter():
    sample, label, window = _problem(seed=3)
    other, _, _ = _problem(seed=4)
    schedule = ADMMSchedule()
    filt = STRCFFilter([SIZE], label, [window], PERIOD, schedule)
    (first,) = [f.copy() for f in filt.learn(sample, mu=0.0)]
    (kept,) = filt.learn(other, mu=1e7)
    np.testing.assert_allclose(kept, first, atol=1e-5 * np.abs(first).max())
    filt.filters = [first]
    (moved,) = filt.learn(other, mu=1e-3)
    assert np.abs(moved - first).max() > 0.1 * np.abs(first).max()


def test_blocks_fitted_apart_each_learn_what_they_would_alone():
    """Two layers of different resolutions in separate blocks: each gets the filter it would
    get alone, and the score is the mean of the two; fitted jointly they differ."""
    small = (5, 3)  # a coarser layer: fewer frequencies on the same domain
    fine, label, window = _problem(seed=5)
    coarse = [interpolate(np.random.default_rng(6).normal(size=(3, 5, 5)).astype(np.float32))]
    ys, xs = grid_points(small, PERIOD)
    coarse_window = 0.05 + 0.5 * ((ys[:, None] - 10.0) ** 2 + (xs[None, :] - 10.0) ** 2) / 100.0
    coarse_label = label[1:-1, :3]  # the label's coefficients the coarse layer holds
    schedule = ADMMSchedule()
    both = STRCFFilter([SIZE, small], label, [window, coarse_window], PERIOD, schedule, [0, 1])
    got = both.learn([*fine, *coarse], mu=0.0)
    (alone_fine,) = STRCFFilter([SIZE], label, [window], PERIOD, schedule).learn(fine, mu=0.0)
    (alone_coarse,) = STRCFFilter([small], coarse_label, [coarse_window], PERIOD, schedule).learn(
        coarse, mu=0.0
    )
    np.testing.assert_allclose(got[0], alone_fine, atol=1e-6)
    np.testing.assert_allclose(got[1], alone_coarse, atol=1e-6)
    score = both.scores([*fine, *coarse])
    expected = np.einsum("chw,chw->hw", alone_fine, fine[0])
    expected[1:-1, :3] += np.einsum("chw,chw->hw", alone_coarse, coarse[0])
    np.testing.assert_allclose(score, expected / 2, atol=1e-5)
    # each block's own score is what that block's filter alone gives
    blocks = both.block_scores([*fine, *coarse])
    np.testing.assert_allclose(blocks[0], np.einsum("chw,chw->hw", alone_fine, fine[0]), atol=1e-5)
    np.testing.assert_allclose(
        blocks[1][1:-1, :3], np.einsum("chw,chw->hw", alone_coarse, coarse[0]), atol=1e-5
    )
    outside = np.ones(blocks[1].shape, dtype=bool)
    outside[1:-1, :3] = False
    assert not blocks[1][outside].any()  # nothing beyond the coarse layer's own frequencies
    joint = STRCFFilter([SIZE, small], label, [window, coarse_window], PERIOD, schedule)
    assert np.abs(joint.learn([*fine, *coarse], mu=0.0)[0] - alone_fine).max() > 1e-3


def test_a_block_penalty_scale_is_that_block_alone_with_scaled_penalties():
    """Scaling one block's penalties by s is learning it alone with mu, the ADMM penalties and
    the window's square all multiplied by s (here over two frames, the temporal term in use)."""
    small, s = (5, 3), 7.0
    fine, label, window = _problem(seed=5)
    coarse = [interpolate(np.random.default_rng(6).normal(size=(3, 5, 5)).astype(np.float32))]
    later = [interpolate(np.random.default_rng(8).normal(size=(3, 5, 5)).astype(np.float32))]
    ys, xs = grid_points(small, PERIOD)
    coarse_window = 0.05 + 0.5 * ((ys[:, None] - 10.0) ** 2 + (xs[None, :] - 10.0) ** 2) / 100.0
    schedule = ADMMSchedule()
    both = STRCFFilter(
        [SIZE, small], label, [window, coarse_window * np.sqrt(s)], PERIOD, schedule, [0, 1],
        [1.0, s],
    )  # fmt: skip
    both.learn([*fine, *coarse], mu=0.0)
    got = both.learn([*fine, *later], mu=0.3)
    scaled = ADMMSchedule(schedule.iterations, schedule.init * s, schedule.step, schedule.cap * s)
    alone = STRCFFilter([small], label[1:-1, :3], [coarse_window * np.sqrt(s)], PERIOD, scaled)
    alone.learn(coarse, mu=0.0)
    (expected,) = alone.learn(later, mu=0.3 * s)
    np.testing.assert_allclose(got[1], expected, atol=1e-6)
    unscaled = STRCFFilter([SIZE, small], label, [window, coarse_window], PERIOD, schedule, [0, 1])
    unscaled.learn([*fine, *coarse], mu=0.0)
    assert np.abs(unscaled.learn([*fine, *later], mu=0.3)[1] - expected).max() > 1e-3


def test_block_units_scale_the_smaller_block_as_documented():
    from cftrack_cli.trackers.strcf_learner import _block_scale

    cells, energies = [256, 4096, 4096], [0.015, 0.03, 0.03]
    blocks = [0, 1, 1]
    assert _block_scale(blocks, cells, energies, 0.03, "shared") == [1.0, 1.0]
    assert _block_scale(blocks, cells, energies, 0.03, "standalone") == pytest.approx([32, 1])
    assert _block_scale(blocks, cells, energies, 0.03, "released") == pytest.approx([512, 1])
    with pytest.raises(ValueError, match="block_units"):
        STRCFParams(block_units="other")


def test_layers_of_one_resolution_share_a_block():
    from cftrack_cli.trackers.strcf_learner import _resolution_blocks

    assert _resolution_blocks([(63, 32), (15, 8), (63, 32), (15, 8)]) == [0, 1, 0, 1]
    assert _resolution_blocks([(63, 32)] * 3) == [0, 0, 0]


def _textured_frame(shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    rng = np.random.default_rng(5)
    base = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 2.0)
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    return cv2.warpAffine(base, m, (320, 240), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("shift", [(2.4, -1.7), (-0.6, 3.3)])
def test_a_subpixel_shift_is_localised(shift):
    tracker = STRCFTracker()
    box = Box(140.0, 100.0, 40.0, 30.0)
    still = _textured_frame()
    tracker.init(still, box)
    for _ in range(3):
        tracker.update(still)
    result = tracker.update(_textured_frame(shift))
    cx, cy = result.box.center
    assert cx - box.center[0] == pytest.approx(shift[0], abs=0.2)
    assert cy - box.center[1] == pytest.approx(shift[1], abs=0.2)


def test_strcf_follows_a_synthetic_target_through_the_registry():
    frames, boxes = moving_square_frames(n=30, size=(160, 120))
    tracker = create_tracker("strcf")
    steps = list(track_frames(tracker, frames, Box(*boxes[0])))
    overlaps = [iou(s.result.box, Box(*b)) for s, b in zip(steps, boxes, strict=True)]
    assert np.mean(overlaps) > 0.7 and min(overlaps) > 0.4
    assert tracker.timer.milliseconds_per_call().get("learn", 0.0) > 0.0


@pytest.fixture
def student_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = StudentNet(vgg16_student_spec(0.125))
    return save_student(tmp_path / "tiny_student.pth", net, {"preprocessing": CAFFE_VGG})


def test_presets_build_from_their_parameter_dataclasses(student_file):
    strcf = create_tracker("strcf")
    assert isinstance(strcf, STRCFTracker) and strcf.params == STRCFParams()
    deep = create_tracker(f"deepstrcf@{student_file}")
    assert deep.name == "deepstrcf@tiny_student" and deep.network is not None
    cnn, _ = student_backend(str(student_file))
    expected = deep_strcf_params(mid_level_tap(cnn))
    assert replace(deep.params, layers=()) == replace(expected, layers=())
    assert [(s.cell_size, s.frames) for s in deep.params.layers] == [
        (s.cell_size, s.frames) for s in expected.layers
    ]
    # the dataclass is what the tracker reads: a wider search area, a larger sample
    frame = _textured_frame()
    box = Box(140.0, 100.0, 40.0, 40.0)
    wide = STRCFTracker(replace(STRCFParams(), search_area_scale=7.0, max_sample_area=400.0**2))
    narrow = STRCFTracker()
    wide.init(frame, box)
    narrow.init(frame, box)
    assert wide.target.sample_px[0] > narrow.target.sample_px[0]
    frames, boxes = moving_square_frames(n=6, size=(160, 120))
    steps = list(track_frames(deep, frames, Box(*boxes[0])))
    # DeepSTRCF's choice: one mid-level layer (the student's conv4_3 pooled to stride 16),
    # grey, fHOG, CN
    assert [e.cell_size for e in deep.stage.extractors] == [16, 4, 4, 4]
    assert deep.network is not None and [t.label for t in deep.network.taps] == ["conv4_3/avg2"]
    assert all(np.isfinite(s.result.box).all() for s in steps)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (cf_vggm_spec(), "relu3"),  # the original's own layer: VGG-M relu3, stride 16
        (vgg16_student_spec(0.125), "conv4_3/avg2"),  # stride 8, pooled to 16
        (vgg16_student_spec(0.125, taps=("conv3_3", "conv5_3")), "conv5_3"),  # none: deepest
    ],
)
def test_deepstrcf_reads_a_mid_level_layer_at_stride_16(spec, expected):
    torch.manual_seed(0)
    net = StudentNet(spec)
    chosen = mid_level_tap(TorchBackend(net, list(net.taps), CAFFE_VGG))
    assert [t.label for t in chosen.taps] == [expected]
    assert [layer.cell_size for layer in chosen.layers()] == [16]
    patch = np.random.default_rng(0).integers(0, 256, (1, 64, 96, 3), dtype=np.uint8)
    (maps,) = chosen.maps(patch).values()
    assert maps.shape[-2:] == (4, 6)  # one cell per 16 pixels


def test_deepstrcf_teacher_runs_on_a_random_teacher(vgg_weights):
    tracker = create_tracker(
        "deepstrcf-teacher", teacher_weights=str(vgg_weights), teacher_preprocessing="caffe"
    )
    frames, boxes = moving_square_frames(n=3, size=(96, 80))
    steps = list(track_frames(tracker, frames, Box(*boxes[0])))
    assert len(steps) == 3 and all(np.isfinite(s.result.box).all() for s in steps)


@pytest.mark.shared
def test_strcf_follows_a_real_sequence():
    (seq,) = find_dataset(shared_path("data", "sequences"), only=["David"]).sequences
    gt = np.asarray(seq.groundtruth, dtype=np.float64)
    n = 150
    steps = list(track_frames(create_tracker("strcf"), read_images(seq.frames), Box(*gt[0]), n))
    overlaps = [iou(s.result.box, Box(*b)) for s, b in zip(steps, gt[:n], strict=True)]
    assert np.mean(overlaps) > 0.6
