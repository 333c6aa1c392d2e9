"""Failure detection: does a tracker's score drop, and its lost flag rise, when it fails?"""

import numpy as np
import pytest

from cftrack_cli.evaluation.failure import auroc, failure_frames, pool
from cftrack_cli.evaluation.results import ResultFolder


def test_auroc_cases():
    assert auroc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert auroc(np.array([0.1, 0.2]), np.array([0.9, 0.8])) == 0.0
    assert auroc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5  # ties count half
    assert auroc(np.array([0.9, 0.3]), np.array([0.5])) == 0.5
    assert auroc(np.array([]), np.array([0.5])) is None


def _case():
    gt = np.array([[10, 10, 20, 20]] * 6, dtype=float)
    gt[5] = np.nan  # absent: never scored
    pred = gt.copy()
    pred[5] = [10, 10, 20, 20]
    pred[3] = [200, 200, 20, 20]  # failed (IoU 0)
    pred[4] = [20, 10, 20, 20]  # IoU 1/3: tracked
    pred[2] = [25, 10, 20, 20]  # IoU 1/7: neither
    scores = np.array([0.9, 0.8, 0.5, 0.1, 0.7, 0.05])
    lost = np.array([False, False, False, True, True, True])
    return pred, gt, scores, lost


def test_frames_split_by_iou():
    pred, gt, scores, lost = _case()
    f = failure_frames(pred, gt, scores, lost)
    np.testing.assert_array_equal(np.sort(f.tracked_scores), [0.7, 0.8, 0.9])
    np.testing.assert_array_equal(f.failed_scores, [0.1])
    assert f.score_auroc == 1.0
    assert f.lost_on_failed == 1.0
    assert f.lost_on_tracked == pytest.approx(1 / 3)
    assert f.lost_frames == pytest.approx(2 / 5)  # frame 5 has no ground truth


def test_trackers_without_a_flag_report_none():
    pred, gt, scores, _ = _case()
    f = failure_frames(pred, gt, scores, None)
    assert f.lost_on_failed is None and f.lost_frames is None
    assert f.score_auroc == 1.0


def test_pooling_concatenates_frames():
    pred, gt, scores, lost = _case()
    one = failure_frames(pred, gt, scores, lost)
    both = pool([one, one])
    assert both.failed_scores.size == 2 and both.tracked_scores.size == 6
    assert both.lost_on_tracked == one.lost_on_tracked
    assert pool([one, failure_frames(pred, gt, scores, None)]).lost_frames is None
    assert pool([]) is None


def test_scores_file_round_trip(tmp_path):
    folder = ResultFolder(tmp_path)
    boxes = np.array([[0, 0, 5, 5], [1, 1, 5, 5]], dtype=float)
    folder.write("t", "seq", boxes, [0.1, 0.01], [1.0, 0.123456], [False, True])
    scores, lost = folder.read_scores("t", "seq")
    np.testing.assert_allclose(scores, [1.0, 0.1235])
    np.testing.assert_array_equal(lost, [False, True])
    folder.write("u", "seq", boxes, [0.1, 0.01], [1.0, 0.5], None)
    scores, lost = folder.read_scores("u", "seq")
    assert lost is None and scores.tolist() == [1.0, 0.5]
    assert folder.read_scores("v", "seq") is None
