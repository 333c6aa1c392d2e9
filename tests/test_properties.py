"""Property tests (hypothesis): box parsing, box clamping, and invariants of the metrics.

test_metrics.py already checks the metrics against a naive reference, under translation and for
bounded monotone curves; these add what odd input can reach: any text given as ``--box``, any
row of a box file, any place or size a tracker may drift to, absent ground-truth rows, scale.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from cftrack_cli.boxes import Box, iou, parse_box
from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.errors import UsageError
from cftrack_cli.evaluation.metrics import centre_errors, mean_scores, overlaps, score_sequence
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.io.annotations import read_boxes, write_boxes
from cftrack_cli.trackers import create_tracker
from cftrack_cli.trackers.base import CentredTracker, TrackResult
from cftrack_cli.trackers.scale_estimation import ScaleEstimator


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    with threadpool_limits(1):  # OpenBLAS threads spin on a busy machine
        yield


finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0, exclude_min=True, allow_infinity=False)
separators = st.sampled_from([",", ", ", " ", "\t", ";", " , "])

# -- parsing ---------------------------------------------------------------------------------------


@given(finite, finite, positive, positive, separators)
def test_parse_box_reads_back_any_valid_box_exactly(x, y, w, h, sep):
    text = f"  {sep.join(repr(v) for v in (x, y, w, h))} "
    assert parse_box(text) == Box(x, y, w, h)


@given(st.text(max_size=40))
def test_parse_box_either_gives_a_valid_box_or_one_line_usage_error(text):
    try:
        box = parse_box(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert box.is_valid()


@given(
    st.lists(
        st.one_of(finite, st.sampled_from([math.nan, math.inf, -math.inf])), min_size=4, max_size=4
    ),
)
def test_parse_box_refuses_non_finite_numbers_and_non_positive_sizes(values):
    x, y, w, h = values
    assume(not Box(x, y, w, h).is_valid())
    with pytest.raises(UsageError):
        parse_box(",".join(repr(v) for v in values))


box_rows = st.lists(
    st.one_of(
        st.tuples(
            st.integers(-5000, 5000), st.integers(-5000, 5000), st.integers(1, 5000),
            st.integers(1, 5000),
        ).map(lambda t: tuple(v / 8 for v in t)),  # eighths: exact in 3 decimals
        st.just((math.nan,) * 4),
    ),
    min_size=1, max_size=20,
)  # fmt: skip


@given(box_rows, st.booleans())
def test_box_files_round_trip(rows, one_based):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "boxes.txt"
        write_boxes(path, rows, one_based=one_based)
        back = read_boxes(path, one_based=one_based)
    np.testing.assert_array_equal(back, np.array(rows, dtype=np.float64))


# -- clamping --------------------------------------------------------------------------------------


class _Centred(CentredTracker):
    """Only the bookkeeping of CentredTracker, with a state set by the test."""

    def _init(self, frame: np.ndarray, box: Box) -> None: ...

    def _update(self, frame: np.ndarray) -> TrackResult:
        raise NotImplementedError


@given(
    st.floats(-1e9, 1e9), st.floats(-1e9, 1e9), st.integers(1, 8000), st.integers(1, 8000),
    st.floats(0.5, 1e5), st.floats(0.5, 1e5),
)  # fmt: skip
def test_a_clamped_centre_keeps_the_box_on_the_frame(cx, cy, width, height, w, h):
    tracker = _Centred()
    size = np.array([w, h], dtype=np.float64)
    tracker.target = TargetGeometry(np.array([cx, cy]), size, size, (int(w) + 1, int(h) + 1))
    frame = np.empty((height, width, 3), np.uint8)
    tracker._keep_inside(frame)
    x, y = tracker.target.centre
    assert 0 <= x <= width - 1 and 0 <= y <= height - 1
    if 0 <= cx <= width - 1 and 0 <= cy <= height - 1:
        assert (x, y) == (cx, cy)  # a centre inside is left alone
    box = tracker.current_box()
    assert box.is_valid() and box.overlaps_frame(width, height)
    tracker._keep_inside(frame)
    assert (tracker.target.centre == (x, y)).all()  # idempotent


class _SaysFactor:
    """A scale filter that answers whatever the test wants."""

    def __init__(self, factors: list[float]) -> None:
        self.factors = iter(factors)

    def estimate(self, samples: object) -> tuple[float, float]:
        return next(self.factors), 1.0


@given(
    st.integers(16, 1920), st.integers(16, 1080), st.floats(1, 400), st.floats(1, 400),
    st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=30),
)  # fmt: skip
def test_scale_estimates_stay_within_the_size_limits(width, height, w, h, factors):
    initial = np.array([w, h])
    est = ScaleEstimator(ScaleParams(), (width, height), initial, min_target_px=5.0)
    est.filter = _SaysFactor(factors)  # type: ignore[assignment]
    est._samples = lambda *args: None  # type: ignore[method-assign]
    low, high = est._min_factor_of_initial, est._max_factor_of_initial
    size = initial.copy()
    for _ in factors:
        size = size * est.estimate(None, (0.0, 0.0), size)  # type: ignore[arg-type]
        ratio = size[0] / w
        assert low * (1 - 1e-9) <= ratio <= high * (1 + 1e-9)
        assert min(size) >= min(5.0, min(w, h)) * (1 - 1e-9)


@st.composite
def box_on_a_64x48_frame(draw):
    w = draw(st.floats(1, 120))
    h = draw(st.floats(1, 90))
    x = draw(st.floats(-w + 0.5, 63.5))
    y = draw(st.floats(-h + 0.5, 47.5))
    return (x, y, w, h)


@settings(max_examples=25, deadline=None)
@given(box_on_a_64x48_frame(), st.integers(0, 2**16))
def test_dcf_boxes_stay_sane_from_any_start(box, seed):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    tracker = create_tracker("dcf")
    tracker.init(frames[0], box)
    for frame in frames[1:]:
        result = tracker.update(frame)
        assert Box(*result.box).is_valid() and Box(*result.box).overlaps_frame(64, 48)
        assert math.isfinite(result.score)


# -- metrics ---------------------------------------------------------------------------------------

coord = st.integers(-200, 400).map(float)
side = st.integers(1, 150).map(float)
box = st.tuples(coord, coord, side, side)
pairs = st.lists(st.tuples(box, box), min_size=1, max_size=20)


def _arrays(pairs_):
    return np.array([p for p, _ in pairs_]), np.array([g for _, g in pairs_])


def _same_curves(a, b) -> None:
    np.testing.assert_array_equal(a.success, b.success)
    np.testing.assert_array_equal(a.precision, b.precision)
    np.testing.assert_array_equal(a.norm_precision_curve, b.norm_precision_curve)


@given(pairs, st.lists(st.tuples(st.integers(0, 20), box), max_size=6))
def test_frames_with_absent_ground_truth_change_nothing(pairs_, absent):
    pred, gt = _arrays(pairs_)
    for at, any_prediction in absent:  # any prediction at all on a frame without a target
        at = min(at, len(pred))
        pred = np.insert(pred, at, any_prediction, axis=0)
        gt = np.insert(gt, at, np.nan, axis=0)
    plain = score_sequence(*_arrays(pairs_))
    with_absent = score_sequence(pred, gt)
    _same_curves(plain, with_absent)
    assert with_absent.frames == len(pairs_)


@given(pairs, st.sampled_from([0.25, 0.5, 2.0, 8.0]))
def test_success_and_normalised_precision_do_not_depend_on_scale(pairs_, k):
    pred, gt = _arrays(pairs_)
    a, b = score_sequence(pred, gt), score_sequence(pred * k, gt * k)
    np.testing.assert_array_equal(overlaps(pred, gt), overlaps(pred * k, gt * k))
    np.testing.assert_array_equal(a.success, b.success)
    np.testing.assert_array_equal(a.norm_precision_curve, b.norm_precision_curve)
    np.testing.assert_array_equal(centre_errors(pred * k, gt * k), k * centre_errors(pred, gt))


@given(pairs, st.data())
def test_a_lost_frame_never_raises_a_score(pairs_, data):
    pred, gt = _arrays(pairs_)
    lost = pred.copy()
    lost[data.draw(st.integers(0, len(pred) - 1))] = np.nan
    a, b = score_sequence(pred, gt), score_sequence(lost, gt)
    assert (b.success <= a.success).all() and (b.precision <= a.precision).all()
    assert (b.norm_precision_curve <= a.norm_precision_curve).all()


@given(pairs, st.integers(1, 5))
def test_the_mean_of_copies_is_the_sequence(pairs_, n):
    one = score_sequence(*_arrays(pairs_))
    mean = mean_scores([one] * n)
    assert mean is not None
    np.testing.assert_allclose(mean.success, one.success)
    np.testing.assert_allclose(mean.precision, one.precision)
    assert mean.frames == n * one.frames


@given(box, box)
def test_iou_is_symmetric_bounded_and_one_on_itself(a, b):
    ab, ba = iou(Box(*a), Box(*b)), iou(Box(*b), Box(*a))
    assert ab == ba and 0.0 <= ab <= 1.0
    assert iou(Box(*a), Box(*a)) == pytest.approx(1.0)
