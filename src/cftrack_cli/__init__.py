"""cftrack: real-time correlation-filter tracking on a CPU with distilled deep features.

The public Python surface::

    from cftrack_cli import create_tracker, open_frames

    tracker = create_tracker("dcf")
    frames = iter(open_frames("clip.mp4"))
    tracker.init(next(frames), (291, 127, 146, 132))
    for frame in frames:
        result = tracker.update(frame)   # result.box (x, y, w, h), result.score
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Resolved on first use, so importing a light submodule (boxes, io) does not load every tracker.
_EXPORTS = {
    "Box": "cftrack_cli.boxes",
    "MultiTracker": "cftrack_cli.trackers.multi",
    "open_frames": "cftrack_cli.io.frames",
    "TrackResult": "cftrack_cli.trackers",
    "Tracker": "cftrack_cli.trackers",
    "create_tracker": "cftrack_cli.trackers",
    "tracker_names": "cftrack_cli.trackers",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cftrack_cli' has no attribute {name!r}")
