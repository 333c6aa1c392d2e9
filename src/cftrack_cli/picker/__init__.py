"""Drawing target boxes on a frame in a browser, for a package whose OpenCV has no GUI."""

from cftrack_cli.picker.server import browser_available, pick_boxes

__all__ = ["browser_available", "pick_boxes"]
