"""Drive a tracker over a stream of frames: the loop ``track``, ``eval`` and ``bench`` share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.trackers.base import Tracker, TrackResult
from cftrack_cli.trackers.multi import MultiTracker, track_targets


@dataclass(frozen=True)
class FrameResult:
    index: int  # 0-based frame number
    frame: np.ndarray  # the RGB frame the result is for
    result: TrackResult
    seconds: float  # time spent in init/update for this frame (decoding excluded)


def track_frames(
    tracker: Tracker, frames: Iterable[np.ndarray], box: Box, max_frames: int | None = None
) -> Iterator[FrameResult]:
    """Initialise on the first frame with ``box`` and update on the rest, timing only the tracker.

    The first frame's result is the initial box with score 1. The one-target case of
    :func:`~cftrack_cli.trackers.multi.track_targets`.
    """
    for step in track_targets(MultiTracker({0: tracker}), islice(frames, max_frames), {0: box}):
        yield FrameResult(step.index, step.frame, step.results[0], step.seconds)
