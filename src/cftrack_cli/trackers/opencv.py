"""OpenCV's trackers behind our contract, as peers for ``eval`` and ``bench``.

They need the contrib build (``opencv-contrib-python-headless``). Where a peer reports a
failure (``update`` returns ``ok=False``, or OpenCV raises mid-sequence) the frame is flagged
lost and keeps the last box, so every frame has a box to score. The score is the tracker's own
where it has one (``getTrackingScore`` of NanoTrack and VitTrack), else 1 for a tracked frame
and 0 for a lost one.
A box a peer cannot start on is a one-line :class:`UsageError`, checked before OpenCV sees it:
MIL loops forever on boxes under 5 px.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import CftrackError, UsageError
from cftrack_cli.trackers.base import Tracker, TrackResult
from cftrack_cli.trackers.registry import register


def _factory(*paths: str) -> Callable[[], Any]:
    """The first of ``cv2`` attribute paths that exists, e.g. ``legacy.TrackerMOSSE_create``."""

    def make() -> Any:
        for path in paths:
            obj: Any = cv2
            for part in path.split("."):
                obj = getattr(obj, part, None)
                if obj is None:
                    break
            if obj is not None:
                return obj()
        raise CftrackError(
            f"this OpenCV build ({cv2.__version__}) has no {paths[0]}; "
            "install opencv-contrib-python-headless"
        )

    return make


def opencv_says(exc: cv2.error) -> str:
    """OpenCV's own words from a ``cv2.error`` (its last line, without the source path)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    return last.split(" error: ", 1)[-1].strip()


class OpenCVTracker(Tracker):
    reports_lost = True  # update's ok=False

    def __init__(
        self,
        make: Callable[[], Any],
        min_side: int = 1,
        details: dict[str, Any] | None = None,
        own_score: bool = False,
    ) -> None:
        super().__init__()
        self._make = make
        self._min_side = min_side  # smallest box side (px) OpenCV's tracker copes with
        # getTrackingScore means something (NanoTrack, VitTrack); the others return -1.
        self._own_score = own_score
        self._details = dict(details or {})  # what bench reports beside the timings
        self._cv: Any = None
        self._unused: Any = None  # made but not started: the next init takes it
        self._last = Box(0, 0, 1, 1)

    def preload(self) -> OpenCVTracker:
        """Make OpenCV's tracker now (loading model files), not in the timed ``init``."""
        self._unused = self._make()
        return self

    def describe(self) -> dict[str, Any]:
        return {"opencv": cv2.__version__, **self._details}

    def _init(self, frame: np.ndarray, box: Box) -> None:
        self._cv = self._unused if self._unused is not None else self._make()
        self._unused = None
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        rect = tuple(round(v) for v in box)
        rect = (rect[0], rect[1], max(1, rect[2]), max(1, rect[3]))
        if min(rect[2], rect[3]) < self._min_side:
            raise UsageError(
                f"{self.name} needs a box of at least {self._min_side}x{self._min_side} px; "
                f"got {rect[2]}x{rect[3]}"
            )
        try:
            with self.timer.stage("opencv"):
                self._cv.init(bgr, rect)
        except cv2.error as exc:
            raise UsageError(
                f"{self.name} cannot start on the box {rect} in a {frame.shape[1]}x"
                f"{frame.shape[0]} frame: OpenCV says {opencv_says(exc)}"
            ) from None
        self._last = box

    def _update(self, frame: np.ndarray) -> TrackResult:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        try:
            with self.timer.stage("opencv"):
                ok, rect = self._cv.update(bgr)
        except cv2.error:  # e.g. a box that drifted off the frame: a failed frame, not a crash
            return TrackResult(self._last, 0.0, lost=True)
        ok = bool(ok) and rect[2] > 0 and rect[3] > 0
        if ok:
            self._last = Box(*(float(v) for v in rect))
        own = self._own_score
        score = float(self._cv.getTrackingScore()) if own else (1.0 if ok else 0.0)
        return TrackResult(self._last, score, lost=not ok)


# name: (cv2 factories, summary, smallest box side that neither raises nor hangs, measured)
_PEERS = {
    "opencv-csrt": (
        ("TrackerCSRT_create", "legacy.TrackerCSRT_create"),
        "OpenCV CSRT (CSR-DCF)",
        2,
    ),
    "opencv-kcf": (("TrackerKCF_create", "legacy.TrackerKCF_create"), "OpenCV KCF", 1),
    "opencv-mil": (("TrackerMIL_create", "legacy.TrackerMIL_create"), "OpenCV MIL", 5),
    "opencv-mosse": (("legacy.TrackerMOSSE_create",), "OpenCV MOSSE (legacy API)", 2),
}

for _name, (_paths, _summary, _side) in _PEERS.items():
    register(_name, f"peer: {_summary}")(
        lambda _p=_paths, _s=_side: OpenCVTracker(_factory(*_p), _s)
    )
