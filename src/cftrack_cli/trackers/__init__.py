"""Trackers and their registry. Importing this package registers every built-in tracker."""

from cftrack_cli.trackers import (  # noqa: F401  (registration side effect)
    dcf,
    eco,
    eco_deep,
    opencv,
    opencv_deep,
    strcf,
    strcf_deep,
)
from cftrack_cli.trackers.base import Tracker, TrackResult
from cftrack_cli.trackers.registry import create_tracker, tracker_names, tracker_specs

__all__ = ["TrackResult", "Tracker", "create_tracker", "tracker_names", "tracker_specs"]
