"""Several targets in one pass over the frames: one independent tracker per target.

Not a new tracker contract: :class:`MultiTracker` holds ordinary :class:`Tracker` objects, each
initialised on the same frame with its own box and updated on every frame. Trackers share no
state, so each target's boxes are exactly those of its tracker run alone, and the cost is the
sum of the targets' costs (linear in their number).

    tracks = MultiTracker.create("eco-student", ids=[1, 2])
    tracks.init(first_frame, {1: (291, 127, 146, 132), 2: (40, 60, 50, 50)})
    for frame in stream:
        for target_id, result in tracks.update(frame).items():
            print(target_id, result.box, result.score, result.lost)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import CftrackError
from cftrack_cli.trackers.base import Tracker, TrackResult
from cftrack_cli.trackers.registry import create_tracker

BoxLike = Box | Sequence[float]


class MultiTracker:
    """One tracker per target id, driven together (see the module notes)."""

    def __init__(self, trackers: Mapping[int, Tracker]) -> None:
        if not trackers:
            raise ValueError("a MultiTracker needs at least one tracker")
        if len({id(t) for t in trackers.values()}) != len(trackers):
            raise ValueError("each target needs its own tracker object")
        self.trackers = dict(trackers)

    @classmethod
    def create(cls, name: str, ids: int | Iterable[int], **options: Any) -> MultiTracker:
        """A tracker ``name`` (with ``options``, as :func:`create_tracker`) for each id;
        ``ids=3`` means ids 1, 2, 3."""
        id_list = list(range(1, ids + 1)) if isinstance(ids, int) else list(ids)
        return cls({i: create_tracker(name, **options) for i in id_list})

    @property
    def ids(self) -> list[int]:
        return list(self.trackers)

    def init(self, frame: np.ndarray, boxes: Mapping[int, BoxLike] | Sequence[BoxLike]) -> None:
        """Start every target on ``frame``: ``boxes`` by id, or in the order of :attr:`ids`."""
        if len(boxes) != len(self.trackers):
            raise ValueError(
                f"one box per target: {len(self.trackers)} expected, {len(boxes)} given"
            )
        by_id = (
            dict(boxes) if isinstance(boxes, Mapping) else dict(zip(self.ids, boxes, strict=True))
        )
        if sorted(by_id) != sorted(self.trackers):
            raise ValueError(f"one box per target id {self.ids}; got {list(by_id)}")
        for target_id, tracker in self.trackers.items():
            try:
                tracker.init(frame, by_id[target_id])
            except CftrackError as exc:  # say which target, when there are several
                if len(self.trackers) == 1:
                    raise
                raise type(exc)(f"target {target_id}: {exc}") from None

    def update(self, frame: np.ndarray) -> dict[int, TrackResult]:
        """Every target's result on the next frame, by id."""
        return {target_id: t.update(frame) for target_id, t in self.trackers.items()}


@dataclass(frozen=True)
class TargetsResult:
    index: int  # the frame's number in its video, 0-based
    frame: np.ndarray
    results: dict[int, TrackResult]  # by target id
    seconds: float  # time spent in init/update for this frame, all targets (decoding excluded)


def track_targets(
    tracker: MultiTracker,
    frames: Iterable[np.ndarray],
    boxes: Mapping[int, BoxLike],
    first_index: int = 0,
) -> Iterator[TargetsResult]:
    """Initialise on the first of ``frames`` (number ``first_index`` in its video) and update on
    the rest, timing only the trackers. The first frame's results are the boxes, score 1."""
    for index, frame in enumerate(frames, start=first_index):
        start = time.perf_counter()
        if index == first_index:
            tracker.init(frame, boxes)
            results = {i: TrackResult(Box(*map(float, boxes[i])), 1.0) for i in tracker.ids}
        else:
            results = tracker.update(frame)
        yield TargetsResult(index, frame, results, time.perf_counter() - start)
