"""OpenCV's trackers behind our contract, as peers for ``eval`` and ``bench``.

They need the contrib build (``opencv-contrib-python-headless``). Where a peer reports a
failure we keep its last box and report score 0, so every frame has a box to score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import CftrackError
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


class OpenCVTracker(Tracker):
    def __init__(self, make: Callable[[], Any]) -> None:
        super().__init__()
        self._make = make
        self._cv: Any = None
        self._last = Box(0, 0, 1, 1)

    def _init(self, frame: np.ndarray, box: Box) -> None:
        self._cv = self._make()
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        rect = tuple(round(v) for v in box)
        rect = (rect[0], rect[1], max(1, rect[2]), max(1, rect[3]))
        with self.timer.stage("opencv"):
            self._cv.init(bgr, rect)
        self._last = box

    def _update(self, frame: np.ndarray) -> TrackResult:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        with self.timer.stage("opencv"):
            ok, rect = self._cv.update(bgr)
        if ok:
            self._last = Box(*(float(v) for v in rect))
        return TrackResult(self._last, 1.0 if ok else 0.0)


_PEERS = {
    "opencv-csrt": (("TrackerCSRT_create", "legacy.TrackerCSRT_create"), "OpenCV CSRT (CSR-DCF)"),
    "opencv-kcf": (("TrackerKCF_create", "legacy.TrackerKCF_create"), "OpenCV KCF"),
    "opencv-mil": (("TrackerMIL_create", "legacy.TrackerMIL_create"), "OpenCV MIL"),
    "opencv-mosse": (("legacy.TrackerMOSSE_create",), "OpenCV MOSSE (legacy API)"),
}

for _name, (_paths, _summary) in _PEERS.items():
    register(_name, f"peer: {_summary}")(lambda _p=_paths: OpenCVTracker(_factory(*_p)))
