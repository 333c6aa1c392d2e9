"""How well a tracker knows when it has failed: its confidence score and its ``lost`` flag.

Frames are split by IoU with the ground truth: **failed** (IoU < 0.05, the box is off the
target) and **tracked** (IoU > 0.3); frames in between, and frames without ground truth, are
left out. Pooled over all frames of all sequences:

* ``score_auroc``: the probability that a tracked frame scores higher than a failed one (area
  under the ROC curve; 0.5 = the score says nothing, 1 = it separates them perfectly);
* ``lost_on_failed``: the share of failed frames flagged lost (recall of failures);
* ``lost_on_tracked``: the share of tracked frames flagged lost (false alarms);
* ``lost_frames``: the share of all scored frames flagged lost.

The flag numbers are None for trackers that never flag frames (no notion of "lost").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cftrack_cli.evaluation.metrics import align, as_boxes, overlaps, present

FAILED_IOU = 0.05  # below: the box has left the target
TRACKED_IOU = 0.3  # above: the target is being followed


@dataclass(frozen=True)
class FailureFrames:
    """Scores and flags of the failed and tracked frames of one or more sequences."""

    tracked_scores: np.ndarray
    failed_scores: np.ndarray
    tracked_lost: np.ndarray | None  # flags of the tracked frames (None: tracker has no flag)
    failed_lost: np.ndarray | None
    scored_lost: np.ndarray | None  # flags of every frame with ground truth

    @property
    def score_auroc(self) -> float | None:
        return auroc(self.tracked_scores, self.failed_scores)

    @property
    def lost_on_failed(self) -> float | None:
        return _share(self.failed_lost)

    @property
    def lost_on_tracked(self) -> float | None:
        return _share(self.tracked_lost)

    @property
    def lost_frames(self) -> float | None:
        return _share(self.scored_lost)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "score_auroc": self.score_auroc,
            "lost_on_failed": self.lost_on_failed,
            "lost_on_tracked": self.lost_on_tracked,
            "lost_frames": self.lost_frames,
            "failed_frames": int(self.failed_scores.size),
            "tracked_frames": int(self.tracked_scores.size),
        }


def _share(flags: np.ndarray | None) -> float | None:
    if flags is None or flags.size == 0:
        return None
    return float(flags.mean())


def auroc(positive: np.ndarray, negative: np.ndarray) -> float | None:
    """P(a positive scores above a negative), ties counting half (Mann-Whitney U / n_p n_n)."""
    pos = np.sort(np.asarray(positive, dtype=np.float64))
    neg = np.asarray(negative, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return None
    below = np.searchsorted(pos, neg, side="right")  # positives <= each negative
    ties = below - np.searchsorted(pos, neg, side="left")
    above = pos.size - below
    return float((above.sum() + 0.5 * ties.sum()) / (pos.size * neg.size))


def failure_frames(
    pred: np.ndarray, gt: np.ndarray, scores: np.ndarray, lost: np.ndarray | None
) -> FailureFrames:
    """Split one sequence's frames into failed and tracked, keeping their scores and flags."""
    gt = as_boxes(gt)
    pred, _ = align(pred, len(gt))
    given = np.asarray(scores, dtype=np.float64)
    scores = np.full(len(gt), np.nan)
    scores[: min(len(gt), len(given))] = given[: len(gt)]
    ious = overlaps(pred, gt)
    usable = present(gt) & np.isfinite(scores)
    failed = usable & (ious < FAILED_IOU)
    tracked = usable & (ious > TRACKED_IOU)
    flags = None
    if lost is not None:
        flags = np.zeros(len(gt), dtype=bool)
        n = min(len(gt), len(lost))
        flags[:n] = np.asarray(lost, dtype=bool)[:n]
    return FailureFrames(
        tracked_scores=scores[tracked],
        failed_scores=scores[failed],
        tracked_lost=None if flags is None else flags[tracked],
        failed_lost=None if flags is None else flags[failed],
        scored_lost=None if flags is None else flags[usable],
    )


def pool(parts: Sequence[FailureFrames]) -> FailureFrames | None:
    """All sequences' frames together (None when there is nothing)."""
    if not parts:
        return None

    def cat(arrays: list[np.ndarray | None]) -> np.ndarray | None:
        if any(a is None for a in arrays):
            return None
        return np.concatenate(arrays)  # type: ignore[arg-type]

    return FailureFrames(
        tracked_scores=np.concatenate([p.tracked_scores for p in parts]),
        failed_scores=np.concatenate([p.failed_scores for p in parts]),
        tracked_lost=cat([p.tracked_lost for p in parts]),
        failed_lost=cat([p.failed_lost for p in parts]),
        scored_lost=cat([p.scored_lost for p in parts]),
    )
