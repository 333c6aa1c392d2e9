"""OPE metrics on hand-made cases, plus property tests against a plain-Python reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cftrack_cli.boxes import Box, iou
from cftrack_cli.evaluation.metrics import (
    IOU_THRESHOLDS,
    NORM_THRESHOLDS,
    PIXEL_THRESHOLDS,
    centre_errors,
    fps_of,
    frames_per_second,
    mean_scores,
    overlaps,
    score_sequence,
)

GT = np.array([[10, 20, 30, 40], [12, 22, 30, 40], [14, 24, 32, 42], [16, 26, 32, 42]], float)


def test_thresholds_are_the_otb_ones():
    assert len(IOU_THRESHOLDS) == 21 and IOU_THRESHOLDS[10] == pytest.approx(0.5)
    assert PIXEL_THRESHOLDS[0] == 0 and PIXEL_THRESHOLDS[-1] == 50 and len(PIXEL_THRESHOLDS) == 51
    assert NORM_THRESHOLDS[-1] == pytest.approx(0.5) and len(NORM_THRESHOLDS) == 51


def test_ground_truth_against_itself_scores_20_of_21():
    s = score_sequence(GT, GT)
    assert s.success_auc == pytest.approx(20 / 21)  # IoU 1 is never > 1: the OTB convention
    assert s.success_50 == 1.0
    assert s.precision_20 == 1.0
    assert s.norm_precision == 1.0
    assert s.frames == 4 and s.missing == 0
    assert s.success[-1] == 0.0 and (s.success[:-1] == 1.0).all()


def test_shifted_box_known_values():
    gt = np.array([[0, 0, 10, 10]], float)
    pred = np.array([[5, 0, 10, 10]], float)  # IoU = 50 / 150 = 1/3, centre error 5 px
    s = score_sequence(pred, gt)
    assert overlaps(pred, gt)[0] == pytest.approx(1 / 3)
    assert s.success_auc == pytest.approx(7 / 21)  # thresholds 0 .. 0.30 are below 1/3
    assert s.success_50 == 0.0
    assert s.precision[4] == 0.0 and s.precision[5] == 1.0 and s.precision_20 == 1.0
    assert s.norm_precision == pytest.approx(1 / 51)  # 5/10 = 0.5 <= t only at t = 0.5


def test_threshold_ties_follow_the_documented_sides():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    half = np.array([[0, 0, 10, 5], [20, 0, 10, 10]], float)  # IoU exactly 0.5; error exactly 20
    s = score_sequence(half, gt)
    assert overlaps(half, gt)[0] == 0.5
    assert s.success_50 == 0.0  # IoU > 0.5, not >=
    assert centre_errors(half, gt)[1] == 20.0
    assert s.precision_20 == 1.0  # centre error <= 20, not < 20
    assert s.precision[19] == 0.5


def test_absent_target_frames_are_not_scored():
    gt = GT.copy()
    gt[1] = np.nan
    gt[2, 2] = 0.0  # zero width also means absent
    pred = GT.copy()
    pred[1] = [500, 500, 1, 1]  # anything on an absent frame is ignored
    pred[2] = [500, 500, 1, 1]
    s = score_sequence(pred, gt)
    assert s.frames == 2
    assert s.success_auc == pytest.approx(20 / 21)
    assert s.precision_20 == 1.0


def test_nan_prediction_is_a_failure():
    pred = GT.copy()
    pred[2:] = np.nan
    s = score_sequence(pred, GT)
    assert np.isinf(centre_errors(pred, GT)[2:]).all()
    assert overlaps(pred, GT)[2:].tolist() == [0.0, 0.0]
    assert s.success_auc == pytest.approx(0.5 * 20 / 21)
    assert s.precision_20 == 0.5
    assert s.norm_precision == pytest.approx(0.5)


def test_short_results_count_missing_frames_as_failures_and_long_ones_are_cut():
    short = score_sequence(GT[:3], GT)
    assert short.missing == 1
    assert short.success_50 == pytest.approx(0.75)
    longer = np.vstack([GT, [[0, 0, 1, 1]] * 5])
    assert score_sequence(longer, GT).success_auc == pytest.approx(20 / 21)
    assert score_sequence(longer, GT).missing == 0


def test_missing_frame_on_an_absent_target_is_not_counted_missing():
    gt = GT.copy()
    gt[3] = np.nan
    s = score_sequence(GT[:3], gt)
    assert s.missing == 0 and s.frames == 3 and s.success_auc == pytest.approx(20 / 21)


def test_sequence_without_any_box_is_left_out_of_the_mean():
    empty = score_sequence(GT, np.full((4, 4), np.nan))
    assert not empty.scored and math.isnan(empty.success_auc)
    good = score_sequence(GT, GT)
    assert mean_scores([empty, good]).success_auc == pytest.approx(20 / 21)
    assert mean_scores([empty]) is None


def test_overall_is_the_mean_over_sequences_not_over_frames():
    perfect = score_sequence(GT, GT)  # 4 frames, AUC 20/21
    bad_long = score_sequence(np.full((40, 4), np.nan), np.tile(GT, (10, 1)))  # 40 frames, 0
    mean = mean_scores([perfect, bad_long])
    assert mean.success_auc == pytest.approx(10 / 21)
    assert mean.frames == 44


def test_shape_mismatch_and_bad_shapes_raise():
    with pytest.raises(ValueError):
        overlaps(GT[:2], GT)
    with pytest.raises(ValueError):
        score_sequence(np.zeros((3, 5)), GT)


def test_fps_leaves_out_the_init_frame():
    assert frames_per_second([0.5, 0.1, 0.1, 0.2]) == (3, pytest.approx(0.4))
    # frames before the tracker started are NaN; the first timed line is the init
    assert frames_per_second([np.nan, np.nan, 0.5, 0.25]) == (1, pytest.approx(0.25))
    assert fps_of([(3, 0.4), (1, 0.1)]) == pytest.approx(8.0)
    assert fps_of([]) is None and fps_of([(0, 0.0)]) is None


# --- properties --------------------------------------------------------------------------------

coord = st.floats(-100, 300, allow_nan=False, allow_infinity=False)
size = st.floats(0.5, 120, allow_nan=False, allow_infinity=False)
box = st.tuples(coord, coord, size, size)
boxes = st.lists(st.tuples(box, box), min_size=1, max_size=25)


def _reference_scores(pairs):
    """A deliberately naive loop version of the documented definitions."""
    # boxes.iou can exceed 1 by an ulp for equal boxes ((x + w) - x != w); IoU is at most 1
    ious = [min(1.0, iou(Box(*p), Box(*g))) for p, g in pairs]
    errs = []
    nerrs = []
    for p, g in pairs:
        dx = (p[0] + p[2] / 2) - (g[0] + g[2] / 2)
        dy = (p[1] + p[3] / 2) - (g[1] + g[3] / 2)
        errs.append(math.hypot(dx, dy))
        nerrs.append(math.hypot(dx / g[2], dy / g[3]))
    succ = [sum(v > t for v in ious) / len(ious) for t in [i * 0.05 for i in range(21)]]
    prec20 = sum(e <= 20 for e in errs) / len(errs)
    norm = [sum(e <= t for e in nerrs) / len(nerrs) for t in [i * 0.01 for i in range(51)]]
    return sum(succ) / 21, prec20, sum(norm) / 51, ious


@settings(max_examples=150, deadline=None)
@given(boxes)
def test_matches_a_naive_reference(pairs):
    pred = np.array([p for p, _ in pairs])
    gt = np.array([g for _, g in pairs])
    auc, p20, norm, ious = _reference_scores(pairs)
    s = score_sequence(pred, gt)
    np.testing.assert_allclose(overlaps(pred, gt), ious, atol=1e-12)
    # thresholds built by linspace vs i*0.05 can differ by one ulp; compare away from ties
    assert s.success_auc == pytest.approx(auc, abs=1.5 / 21 / len(pairs) + 1e-12)
    assert s.precision_20 == pytest.approx(p20)
    assert s.norm_precision == pytest.approx(norm, abs=1.5 / 51 / len(pairs) + 1e-12)


@settings(max_examples=100, deadline=None)
@given(boxes, st.floats(-50, 50), st.floats(-50, 50))
def test_scores_do_not_depend_on_the_pixel_origin(pairs, dx, dy):
    pred = np.array([p for p, _ in pairs])
    gt = np.array([g for _, g in pairs])
    shift = np.array([dx, dy, 0, 0])
    a, b = score_sequence(pred, gt), score_sequence(pred + shift, gt + shift)
    np.testing.assert_allclose(a.precision, b.precision)
    np.testing.assert_allclose(overlaps(pred, gt), overlaps(pred + shift, gt + shift), atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(boxes)
def test_curves_are_monotone_and_bounded(pairs):
    pred = np.array([p for p, _ in pairs])
    gt = np.array([g for _, g in pairs])
    s = score_sequence(pred, gt)
    assert (np.diff(s.success) <= 0).all() and (np.diff(s.precision) >= 0).all()
    assert (np.diff(s.norm_precision_curve) >= 0).all()
    for v in s.summary().values():
        assert 0.0 <= v <= 1.0
    assert s.success_auc <= 20 / 21 + 1e-12
    ious = overlaps(pred, gt)
    np.testing.assert_allclose(ious, overlaps(gt, pred), atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(box, min_size=1, max_size=20))
def test_any_ground_truth_against_itself_is_20_of_21(gt_rows):
    gt = np.array(gt_rows)
    assert score_sequence(gt, gt).success_auc == pytest.approx(20 / 21)
    assert score_sequence(gt, gt).norm_precision == 1.0
