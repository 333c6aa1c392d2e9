"""Drive a tracker over a stream of frames: the loop ``track``, ``eval`` and ``bench`` share."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.trackers.base import Tracker, TrackResult


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

    The first frame's result is the initial box with score 1.
    """
    for index, frame in enumerate(frames):
        if max_frames is not None and index >= max_frames:
            return
        start = time.perf_counter()
        if index == 0:
            tracker.init(frame, box)
            result = TrackResult(Box(*map(float, box)), 1.0)
        else:
            result = tracker.update(frame)
        yield FrameResult(index, frame, result, time.perf_counter() - start)
