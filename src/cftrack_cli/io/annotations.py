"""Box files: ground truth and per-frame results, one box per line.

Files in the OTB convention count pixels from 1; cftrack works in 0-based pixels
(:mod:`cftrack_cli.boxes`). This module is the one place that converts: reading subtracts 1 from
x and y, writing adds it back. Rows of NaN (or zero size) mean "target absent" and stay NaN.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import UsageError
from cftrack_cli.io.atomic import atomic_write_text

_SPLIT = re.compile(r"[,\s;]+")


def parse_box_row(line: str) -> np.ndarray:
    """One line as x, y, w, h (NaN for absent). A VOT polygon (8 numbers) becomes its bounds."""
    values = np.array([float(v) for v in _SPLIT.split(line.strip()) if v], dtype=np.float64)
    if values.size == 4:
        return values
    if values.size >= 6 and values.size % 2 == 0:
        xs, ys = values[0::2], values[1::2]
        x0, y0 = np.nanmin(xs), np.nanmin(ys)
        return np.array([x0, y0, np.nanmax(xs) - x0, np.nanmax(ys) - y0])
    raise ValueError(f"expected 4 numbers (or a polygon of 8), got {values.size}")


def read_boxes(path: str | Path, one_based: bool = True) -> np.ndarray:
    """All rows of a box file as an (N, 4) float array in 0-based pixels; absent rows are NaN."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such box file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    rows = np.empty((len(lines), 4), dtype=np.float64)
    for i, line in enumerate(lines):
        try:
            rows[i] = parse_box_row(line) if line.strip() else np.nan
        except ValueError as exc:
            raise UsageError(f"{path}:{i + 1}: {exc}") from None
    absent = ~np.isfinite(rows).all(axis=1) | (rows[:, 2] <= 0) | (rows[:, 3] <= 0)
    rows[absent] = np.nan
    if one_based:
        rows[:, :2] -= 1.0
    return rows


def first_box(path: str | Path, one_based: bool = True) -> Box:
    """The first present box of a ground-truth file, as the box to start tracking from."""
    rows = read_boxes(path, one_based=one_based)
    if rows.shape[0] == 0:
        raise UsageError(f"{path}: the box file is empty")
    if not np.isfinite(rows[0]).all():
        raise UsageError(f"{path}: the first row has no box (target absent in the first frame)")
    return Box(*(float(v) for v in rows[0]))


def format_boxes(boxes: Iterable[Iterable[float]], one_based: bool = True) -> str:
    """Rows ``x,y,w,h`` with up to 3 decimals, converted to the file's pixel origin."""
    shift = 1.0 if one_based else 0.0
    lines = []
    for x, y, w, h in boxes:
        lines.append(f"{x + shift:.3f},{y + shift:.3f},{w:.3f},{h:.3f}".replace(".000", ""))
    return "\n".join(lines) + ("\n" if lines else "")


def write_boxes(path: str | Path, boxes: Iterable[Iterable[float]], one_based: bool = True) -> None:
    """Write a box file atomically (a reader never sees half a file)."""
    atomic_write_text(Path(path), format_boxes(boxes, one_based=one_based))
