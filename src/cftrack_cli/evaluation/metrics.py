"""One-pass evaluation (OPE) metrics: success, precision, normalised precision.

The conventions, fixed here and stated in the README and in every report:

* Boxes are ``x, y, w, h`` (N, 4) float arrays. Ground truth and predictions must share one pixel
  origin (:mod:`cftrack_cli.io.annotations` reads both to 0-based); IoU and centre errors do not
  depend on which origin, only on both being the same.
* Frames whose ground truth is absent (a NaN row; zero-size rows are read as NaN) are left out of
  every score. A missing or NaN prediction on a frame where the target is present scores IoU 0
  and an infinite centre error: a failure at every threshold.
* The first frame is scored, as the OTB toolkit does.
* Success(t) = fraction of scored frames with IoU **>** t, for t = 0, 0.05, ..., 1 (21 points);
  ``success_auc`` is the mean of those 21 values. A perfect tracker therefore scores
  20/21 = 0.952, not 1 (IoU 1 is never > 1), exactly as in the OTB toolkit and pysot-toolkit.
* ``success_50`` = success at IoU > 0.5.
* Precision(t) = fraction of scored frames whose centre error is **<=** t pixels, t = 0..50;
  ``precision_20`` is precision at 20 px.
* Normalised precision (TrackingNet): the centre offset divided by the ground truth's w and h per
  axis, then its Euclidean length; the curve runs over 0, 0.01, ..., 0.5 (51 points, ``<=``) and
  ``norm_precision`` is the mean of that curve (its AUC), so a perfect tracker scores 1.
* Over several sequences every curve and number is the mean over sequences (each sequence
  weighs the same, however long), as in the OTB toolkit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: IoU thresholds of the success curve: 0:0.05:1.
IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
#: Centre-error thresholds of the precision curve, pixels: 0..50.
PIXEL_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
#: Normalised centre-error thresholds: 0:0.01:0.5.
NORM_THRESHOLDS = np.linspace(0.0, 0.5, 51)
#: The precision curve's reported point, pixels.
PRECISION_AT = 20

#: The scalar metrics every report carries, in display order.
METRIC_KEYS = ("success_auc", "precision_20", "norm_precision", "success_50")


def as_boxes(boxes: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """An (N, 4) float64 array (a copy); raises ValueError on any other shape."""
    arr = np.array(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must be an (N, 4) array of x, y, w, h; got shape {arr.shape}")
    return arr


def present(boxes: np.ndarray) -> np.ndarray:
    """Rows that hold a box: all finite and a positive width and height."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def align(pred: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """``pred`` cut or padded (with NaN rows) to ``n`` rows, and how many rows were padded."""
    pred = as_boxes(pred)
    if len(pred) >= n:
        return pred[:n], 0
    pad = np.full((n - len(pred), 4), np.nan)
    return np.vstack([pred, pad]), n - len(pred)


def overlaps(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-row IoU of two (N, 4) arrays: 0 where the prediction is not a box, NaN where the
    ground truth is not."""
    pred, gt = as_boxes(pred), as_boxes(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in shape")
    ok_p, ok_g = present(pred), present(gt)
    both = ok_p & ok_g
    p, g = pred[both], gt[both]
    lo = np.maximum(p[:, :2], g[:, :2])
    hi = np.minimum(p[:, :2] + p[:, 2:], g[:, :2] + g[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    union = p[:, 2] * p[:, 3] + g[:, 2] * g[:, 3] - inter
    out = np.zeros(len(gt))
    out[both] = np.clip(inter / union, 0.0, 1.0)
    out[~ok_g] = np.nan
    return out


def centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2.0


def centre_errors(pred: np.ndarray, gt: np.ndarray, normalised: bool = False) -> np.ndarray:
    """Per-row distance between box centres, pixels (or in units of the gt size per axis).

    ``inf`` where the prediction is not a box, NaN where the ground truth is not.
    """
    pred, gt = as_boxes(pred), as_boxes(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in shape")
    ok_p, ok_g = present(pred), present(gt)
    out = np.full(len(gt), np.inf)
    both = ok_p & ok_g
    offset = centres(pred[both]) - centres(gt[both])
    if normalised:
        offset = offset / gt[both][:, 2:]
    out[both] = np.hypot(offset[:, 0], offset[:, 1])
    out[~ok_g] = np.nan
    return out


def success_curve(ious: np.ndarray) -> np.ndarray:
    """Fraction of values strictly above each IoU threshold (NaN entries are not counted)."""
    vals = ious[~np.isnan(ious)]
    if vals.size == 0:
        return np.full(len(IOU_THRESHOLDS), np.nan)
    return (vals[:, None] > IOU_THRESHOLDS[None, :]).mean(axis=0)


_AT_TOLERANCE = 1e-9  # error units (pixels, or target sizes when normalised)


def precision_curve(errors: np.ndarray, thresholds: np.ndarray = PIXEL_THRESHOLDS) -> np.ndarray:
    """Fraction of values at or below each threshold (NaN entries are not counted).

    "At" allows 1e-9 of rounding: a centre error computed as 1e-16 instead of 0 (boxes moved to
    another pixel origin) must not leave the 0 threshold.
    """
    vals = errors[~np.isnan(errors)]
    if vals.size == 0:
        return np.full(len(thresholds), np.nan)
    return (vals[:, None] <= thresholds[None, :] + _AT_TOLERANCE).mean(axis=0)


@dataclass(frozen=True)
class Scores:
    """The curves and numbers of one sequence, or the mean over several."""

    success: np.ndarray  # (21,) over IOU_THRESHOLDS
    precision: np.ndarray  # (51,) over PIXEL_THRESHOLDS
    norm_precision_curve: np.ndarray  # (51,) over NORM_THRESHOLDS
    frames: int  # scored frames (ground truth present); summed over sequences for a mean
    missing: int = 0  # frames with no prediction row (result file too short)

    @property
    def success_auc(self) -> float:
        return float(np.mean(self.success))

    @property
    def success_50(self) -> float:
        return float(self.success[10])  # IOU_THRESHOLDS[10] == 0.5

    @property
    def precision_20(self) -> float:
        return float(self.precision[PRECISION_AT])

    @property
    def norm_precision(self) -> float:
        return float(np.mean(self.norm_precision_curve))

    def summary(self) -> dict[str, float]:
        """The four numbers of :data:`METRIC_KEYS`."""
        return {key: getattr(self, key) for key in METRIC_KEYS}

    @property
    def scored(self) -> bool:
        """False when no frame had a ground-truth box (the numbers are then NaN)."""
        return self.frames > 0


def score_sequence(pred: np.ndarray, gt: np.ndarray) -> Scores:
    """Score predictions against ground truth (same pixel origin). See the module docstring.

    Predictions shorter than the ground truth count the missing frames as failures (check
    ``Scores.missing`` to warn); longer ones are cut to the ground truth's length.
    """
    gt = as_boxes(gt)
    pred, missing = align(pred, len(gt))
    gt_ok = present(gt)
    gt = gt.copy()
    gt[~gt_ok] = np.nan
    ious = overlaps(pred, gt)
    errors = centre_errors(pred, gt)
    norm_errors = centre_errors(pred, gt, normalised=True)
    return Scores(
        success=success_curve(ious),
        precision=precision_curve(errors),
        norm_precision_curve=precision_curve(norm_errors, NORM_THRESHOLDS),
        frames=int(gt_ok.sum()),
        missing=int((gt_ok[len(gt) - missing :]).sum()) if missing else 0,
    )


def mean_scores(per_sequence: Sequence[Scores]) -> Scores | None:
    """The mean over sequences of every curve; sequences without a scored frame are left out.

    None when nothing is left.
    """
    usable = [s for s in per_sequence if s.scored]
    if not usable:
        return None
    return Scores(
        success=np.mean([s.success for s in usable], axis=0),
        precision=np.mean([s.precision for s in usable], axis=0),
        norm_precision_curve=np.mean([s.norm_precision_curve for s in usable], axis=0),
        frames=sum(s.frames for s in usable),
        missing=sum(s.missing for s in usable),
    )


def frames_per_second(seconds: np.ndarray | Sequence[float]) -> tuple[int, float]:
    """``(frames, seconds)`` of the updates in one per-frame times file.

    The init frame (the first timed line; frames before the tracker started are NaN) is left
    out, so fps = frames / seconds measures steady-state tracking speed, as ``track`` reports
    it. Non-finite or negative entries are ignored.
    """
    arr = np.asarray(seconds, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr) & (arr >= 0)][1:]
    return int(arr.size), float(arr.sum())


def fps_of(frame_seconds: Sequence[tuple[int, float]]) -> float | None:
    """Pooled fps: all frames over all seconds (None when nothing was timed)."""
    frames = sum(f for f, _ in frame_seconds)
    seconds = sum(s for _, s in frame_seconds)
    if frames == 0 or seconds <= 0:
        return None
    return frames / seconds
