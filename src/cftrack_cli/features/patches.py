"""Cutting target-centred patches out of frames, resized to a model size."""

from __future__ import annotations

import math

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
    w, h = max(1.0, size[0]), max(1.0, size[1])
    x0 = int(np.floor(center[0] - w / 2.0 + 0.5))
    y0 = int(np.floor(center[1] - h / 2.0 + 0.5))
    x1, y1 = x0 + max(1, round(w)), y0 + max(1, round(h))
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


def crop_resize_many(
    frame: np.ndarray,
    center: tuple[float, float],
    sizes: np.ndarray,
    out_size: tuple[int, int],
) -> np.ndarray:
    """Windows of several ``sizes`` (n, 2) around one ``center``, each resized to ``out_size``.

    For scale estimation the windows must keep their exact relative sizes (a few per cent
    apart), so each is sampled with an exact affine map, not cut at rounded pixel borders.
    The frame around the target is first shrunk once by area averaging, so the bilinear
    sampling that follows does not alias; returns (n, out_h, out_w, 3).
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    ow, oh = out_size
    shrink = max(1.0, float(min(sizes[:, 0].min() / ow, sizes[:, 1].min() / oh)))
    # An integer-aligned region holding every window (plus a margin for the interpolation).
    half = sizes.max(axis=0) / 2.0 + 2.0 * shrink
    x0, y0 = math.floor(center[0] - half[0]), math.floor(center[1] - half[1])
    x1, y1 = math.ceil(center[0] + half[0]), math.ceil(center[1] + half[1])
    region_px = (max(1, round((x1 - x0) / shrink)), max(1, round((y1 - y0) / shrink)))
    region = crop_resize(frame, ((x0 + x1) / 2.0, (y0 + y1) / 2.0), (x1 - x0, y1 - y0), region_px)
    sx, sy = region_px[0] / (x1 - x0), region_px[1] / (y1 - y0)
    out = np.empty((len(sizes), oh, ow, 3), dtype=frame.dtype)
    for i, (w, h) in enumerate(sizes):
        # Output pixel centre u + 0.5 maps to frame x = cx + (u + 0.5 - ow / 2) * w / ow, and
        # frame x to region pixel (x - x0) * sx - 0.5 (pixel centres at half-integers).
        ax, ay = w / ow * sx, h / oh * sy
        bx = (center[0] - x0 + (0.5 - ow / 2.0) * w / ow) * sx - 0.5
        by = (center[1] - y0 + (0.5 - oh / 2.0) * h / oh) * sy - 0.5
        m = np.array([[ax, 0.0, bx], [0.0, ay, by]])
        cv2.warpAffine(
            region,
            m,
            (ow, oh),
            dst=out[i],
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    return out
