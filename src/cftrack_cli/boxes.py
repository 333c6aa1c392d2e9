"""Axis-aligned boxes ``x, y, w, h`` in pixels, top-left origin, 0-based image coordinates.

0-based means the top-left pixel's top-left corner is (0, 0), as in OpenCV and numpy. OTB files
count from 1; :mod:`cftrack_cli.io.annotations` converts on reading and writing, nowhere else.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from cftrack_cli.errors import UsageError


class Box(NamedTuple):
    x: float
    y: float
    w: float
    h: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    @classmethod
    def from_center(cls, cx: float, cy: float, w: float, h: float) -> Box:
        return cls(cx - w / 2.0, cy - h / 2.0, w, h)

    def is_valid(self) -> bool:
        """Finite numbers and a positive size."""
        return all(math.isfinite(v) for v in self) and self.w > 0 and self.h > 0

    def overlaps_frame(self, width: int, height: int) -> bool:
        """True when some part of the box lies inside a ``width`` x ``height`` frame."""
        return self.x < width and self.y < height and self.x + self.w > 0 and self.y + self.h > 0


_SEPARATORS = re.compile(r"[,\s;]+")


def parse_box(text: str) -> Box:
    """Parse ``"x,y,w,h"`` (commas, spaces or tabs) into a valid :class:`Box`.

    Raises :class:`UsageError` with a message that says what is wrong.
    """
    parts = [p for p in _SEPARATORS.split(text.strip()) if p]
    if len(parts) != 4:
        raise UsageError(f"a box is 4 numbers x,y,w,h; got {len(parts)} in {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"a box is 4 numbers x,y,w,h; {text!r} has something else") from None
    box = Box(*values)
    if not all(math.isfinite(v) for v in box):
        raise UsageError(f"box {text!r} has a value that is not a finite number")
    if box.w <= 0 or box.h <= 0:
        raise UsageError(f"box {text!r} needs a positive width and height")
    return box


def format_box(box: Box) -> str:
    """``x,y,w,h`` as ``--box`` takes it, without needless decimals."""
    return ",".join(f"{v:g}" for v in box)


def corner_reading(box: Box, width: int, height: int) -> Box | None:
    """The box ``box`` would be if its numbers were corners ``x1,y1,x2,y2``, when that reading
    fits inside a ``width`` x ``height`` frame while ``box`` runs past its right or bottom edge
    (the likely mistake); otherwise None."""
    runs_past = box.x + box.w > width or box.y + box.h > height
    x1, y1, x2, y2 = box
    if runs_past and 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height:
        return Box(x1, y1, x2 - x1, y2 - y1)
    return None


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return min(1.0, inter / union) if union > 0 else 0.0  # rounding can exceed 1
