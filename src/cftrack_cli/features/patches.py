"""Cutting target-centred patches out of frames, resized to a model size."""

from __future__ import annotations

import cv2
import numpy as np


def _span(start: int, stop: int, limit: int, out: int) -> tuple[int, int, int, int, int]:
    """Along one axis: the in-frame part [a, b) of [start, stop) and its output layout.

    Returns (a, b, pad_before, inner, pad_after) with pad_before + inner + pad_after == out.
    """
    a = min(max(start, 0), limit - 1)
    b = max(min(stop, limit), a + 1)
    scale = out / (stop - start)
    before = min(out - 1, max(0, round((a - start) * scale)))
    inner = min(out - before, max(1, round((b - a) * scale)))
    return a, b, before, inner, out - before - inner


def window_span(centre: float, size: float) -> tuple[int, int]:
    """The whole-pixel window :func:`crop_resize` cuts along one axis: (first pixel, count)."""
    size = max(1.0, size)
    return int(np.floor(centre - size / 2.0 + 0.5)), max(1, round(size))


def crop_resize(
    frame: np.ndarray,
    center: tuple[float, float],
    size: tuple[float, float],
    out_size: tuple[int, int],
) -> np.ndarray:
    """The ``size`` = (w, h) window around ``center`` = (cx, cy), resized to ``out_size`` (w, h).

    Pixels outside the frame repeat the border, as the CF literature does. Only the in-frame
    part is resized (area averaging when shrinking, which does not alias); the border is padded
    at output resolution, so a window far larger than the frame costs no more than one inside.
    """
    fh, fw = frame.shape[:2]
    x0, nx = window_span(center[0], size[0])
    y0, ny = window_span(center[1], size[1])
    x1, y1 = x0 + nx, y0 + ny
    ow, oh = out_size
    ax, bx, left, inner_w, right = _span(x0, x1, fw, ow)
    ay, by, top, inner_h, bottom = _span(y0, y1, fh, oh)
    patch = frame[ay:by, ax:bx]
    if patch.shape[1] != inner_w or patch.shape[0] != inner_h:
        shrinking = patch.shape[1] * patch.shape[0] > inner_w * inner_h
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        patch = cv2.resize(patch, (inner_w, inner_h), interpolation=interp)
    if left or right or top or bottom:
        patch = cv2.copyMakeBorder(patch, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(patch)
