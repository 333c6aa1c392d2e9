"""The tracker contract every tracker follows (ours and OpenCV's peers).

``init(frame, box)`` once, then ``update(frame) -> TrackResult`` per frame. Frames are RGB
``uint8`` arrays of shape (H, W, 3); boxes are :class:`~cftrack_cli.boxes.Box` in 0-based pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import UsageError
from cftrack_cli.features.geometry import TargetGeometry
from cftrack_cli.threads import one_blas_thread
from cftrack_cli.timing import StageTimer


@dataclass(frozen=True)
class TrackResult:
    """What a tracker says about one frame."""

    box: Box
    # Confidence in [0, 1]-ish; higher is surer. Comparable within a tracker, not across trackers.
    score: float
    # The tracker believes the target is not visible (occluded, out of view, drifted away).
    lost: bool = False


class Tracker(ABC):
    """Base class: subclasses implement :meth:`_init` and :meth:`_update`."""

    #: Registry name, set by :func:`cftrack_cli.trackers.registry.register`.
    name: str = "tracker"
    #: Whether :attr:`TrackResult.lost` means anything for this tracker.
    reports_lost: bool = False
    #: How this tracker was set up, where a reader of its results should know (eval, bench).
    setup_note: str | None = None

    def __init__(self) -> None:
        self.timer = StageTimer()
        self._started = False

    def init(self, frame: np.ndarray, box: Box | tuple[float, float, float, float]) -> None:
        """Start tracking the object inside ``box`` on ``frame``."""
        box = Box(*map(float, box))
        check_frame(frame)
        height, width = frame.shape[:2]
        if not box.is_valid():
            raise UsageError(f"the initial box {tuple(box)} needs finite values and w, h > 0")
        if not box.overlaps_frame(width, height):
            raise UsageError(
                f"the initial box {tuple(round(v, 1) for v in box)} lies entirely outside "
                f"the {width}x{height} frame"
            )
        with one_blas_thread():
            self._init(frame, box)
        self._started = True

    def update(self, frame: np.ndarray) -> TrackResult:
        """Locate the object in the next frame."""
        if not self._started:
            raise RuntimeError("call init(frame, box) before update(frame)")
        with one_blas_thread():
            return self._update(frame)

    @abstractmethod
    def _init(self, frame: np.ndarray, box: Box) -> None: ...

    @abstractmethod
    def _update(self, frame: np.ndarray) -> TrackResult: ...


def check_frame(frame: np.ndarray) -> None:
    if not (
        isinstance(frame, np.ndarray)
        and frame.dtype == np.uint8
        and frame.ndim == 3
        and frame.shape[2] == 3
    ):
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise TypeError(f"a frame is an RGB uint8 array (H, W, 3); got {dtype} {shape}")


class CentredTracker(Tracker):
    """A tracker whose state is a :class:`~cftrack_cli.features.geometry.TargetGeometry`: a
    centre and a size ``base_size * scale``.

    The shared bookkeeping of the correlation-filter trackers: the box they report and the rule
    that the centre stays inside the frame.
    """

    target: TargetGeometry

    def _keep_inside(self, frame: np.ndarray) -> None:
        """The centre stays within the frame, so the box always overlaps it."""
        height, width = frame.shape[:2]
        self.target.keep_inside(width, height)

    def _centre(self) -> tuple[float, float]:
        return self.target.centre_xy()

    def _target_size(self) -> np.ndarray:
        return self.target.size

    def current_box(self) -> Box:
        return self.target.box()
