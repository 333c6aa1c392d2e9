"""Box files: ground truth and per-frame results, one box per line.

Files in the OTB convention count pixels from 1; cftrack works in 0-based pixels
(:mod:`cftrack_cli.boxes`). This module is the one place that converts: reading subtracts 1 from
x and y, writing adds it back. Rows of NaN (or zero size) mean "target absent" and stay NaN.

:func:`target_boxes` reads the targets ``track --box-file`` starts from, in three layouts: a
ground-truth file (one row per frame: the row of the start frame), ``id,x,y,w,h`` rows (one
target per row) and MOTChallenge rows (``frame,id,x,y,w,h,conf,...``: the start frame's rows).
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


def _read_text(path: Path) -> str:
    """A box file's text; a one-line error when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such box file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None


def read_boxes(path: str | Path, one_based: bool = True) -> np.ndarray:
    """All rows of a box file as an (N, 4) float array in 0-based pixels; absent rows are NaN."""
    path = Path(path)
    lines = _read_text(path).splitlines()
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


#: Numbers per row of a MOTChallenge file (ground truth: 9; results and detections: 10).
MOT_COLUMNS = (9, 10)


def target_boxes(
    path: str | Path, one_based: bool = True, frame: int = 0
) -> list[tuple[int | None, Box]]:
    """The targets a box file starts in ``frame`` (0-based), as ``(id, box)`` in file order.

    A ground-truth file (4 numbers or a polygon per row) gives one target without an id: the box
    of row ``frame``. Rows of 5 numbers are ``id,x,y,w,h``, one target each. MOTChallenge rows
    (9 or 10 numbers, 1-based frames) give the targets of MOT frame ``frame + 1``. ``one_based``
    is the pixel origin of x and y, whatever the layout.
    """
    path = Path(path)
    rows = _numeric_rows(path)
    widths = {len(values) for _, values in rows}
    if widths == {5} or (widths and widths <= set(MOT_COLUMNS)):
        mot = widths != {5}
        shift = 1.0 if one_based else 0.0
        targets: list[tuple[int | None, Box]] = []
        for line, values in rows:
            if mot and values[0] != frame + 1:
                continue
            target_id, box = values[1 if mot else 0], Box(*values[2:6] if mot else values[1:5])
            where = f"{path}:{line}"
            if not float(target_id).is_integer() or target_id < 0:
                raise UsageError(f"{where}: the id {target_id:g} is not a whole number >= 0")
            if not box.is_valid():
                raise UsageError(f"{where}: the box needs finite values and w, h > 0")
            if any(int(target_id) == known for known, _ in targets):
                raise UsageError(f"{where}: target id {int(target_id)} appears twice")
            targets.append((int(target_id), Box(box.x - shift, box.y - shift, box.w, box.h)))
        if not targets:
            detail = f" in frame {frame} (MOTChallenge frame {frame + 1})" if mot else ""
            raise UsageError(f"{path}: no target{detail}")
        return targets
    boxes = read_boxes(path, one_based=one_based)
    if boxes.shape[0] == 0:
        raise UsageError(f"{path}: the box file is empty")
    if frame >= boxes.shape[0]:
        raise UsageError(f"{path}: has {boxes.shape[0]} rows, so no box for frame {frame}")
    if not np.isfinite(boxes[frame]).all():
        if frame == 0:
            raise UsageError(f"{path}: the first row has no box (target absent in the first frame)")
        raise UsageError(f"{path}: row {frame + 1} has no box (target absent in frame {frame})")
    return [(None, Box(*(float(v) for v in boxes[frame])))]


def _numeric_rows(path: Path) -> list[tuple[int, list[float]]]:
    """``(line number, numbers)`` for every non-blank line; a one-line error for other text."""
    text = _read_text(path)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, [float(v) for v in _SPLIT.split(line.strip()) if v]))
        except ValueError:
            raise UsageError(f"{path}:{number}: expected numbers, got {line.strip()!r}") from None
    return rows


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
