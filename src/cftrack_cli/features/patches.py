"""Cutting target-centred patches out of frames, resized to a model size."""

from __future__ import annotations

import cv2
import numpy as np

# crop_resize_scales warps at this multiple of the output size, then box-averages down.
SCALE_SUPERSAMPLE = 2


def _span(start: int, stop: int, limit: int, out: int) -> tuple[int, int, int, int, int]:
    """Along one axis: the in-frame part [a, b) of [start, stop) and its output layout.

    Returns (a, b, pad_before, inner, pad_after) with pad_before + inner + pad_after == out.
    """
    a, b = _in_frame(start, stop, limit)
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


def crop_resize_scales(
    frame: np.ndarray,
    center: tuple[float, float],
    sizes: np.ndarray,
    out_size: tuple[int, int],
    supersample: int = SCALE_SUPERSAMPLE,
) -> np.ndarray:
    """Windows of several ``sizes`` ((n, 2) as (w, h)) around one ``center``, each resized to
    ``out_size``: an ``(n, h, w[, c])`` stack.

    Cutting and area-resizing each window from the full frame costs a full-resolution pass per
    window; this costs one. The in-frame region holding every window is area-shrunk once, to
    the resolution at which the smallest window has ``supersample`` x ``out_size`` pixels; each
    window is then warped bilinearly at sub-pixel position and size to that many pixels and
    box-averaged down to ``out_size``. The final averaging keeps the blur nearly proportional
    to each window's size, as a per-window area resize does: with plain bilinear warps the
    large windows come out sharper than the small ones, which biases the scale filter.
    """
    sizes = np.maximum(np.asarray(sizes, dtype=np.float64), 1.0)
    ow, oh = out_size
    sw, sh = ow * supersample, oh * supersample
    fh, fw = frame.shape[:2]
    cx, cy = center
    half = sizes.max(axis=0) / 2.0 + 1.0  # one pixel of margin for the bilinear taps
    zoom = np.minimum(1.0, np.array([sw, sh], dtype=np.float64) / sizes.min(axis=0))
    (ax, bx, rw), (ay, by, rh) = (
        _region(c - h, c + h, limit, z)
        for c, h, limit, z in ((cx, half[0], fw, zoom[0]), (cy, half[1], fh, zoom[1]))
    )
    region = frame[ay:by, ax:bx]
    if region.shape[1] != rw or region.shape[0] != rh:
        region = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
    # Region pixel j covers frame [a + j / k, a + (j + 1) / k); OpenCV samples at pixel
    # centres, hence the half-pixel terms.
    kx, ky = rw / (bx - ax), rh / (by - ay)
    n = len(sizes)
    # The warps go one under the other into a tall image, so that one exact
    # ``supersample``:1 area resize averages every window's blocks at once.
    fine = np.empty((n * sh, sw, *frame.shape[2:]), dtype=frame.dtype)
    for i, (w, h) in enumerate(sizes):
        m = np.array(
            [
                [w / sw * kx, 0.0, (cx - w / 2.0 + 0.5 * w / sw - ax) * kx - 0.5],
                [0.0, h / sh * ky, (cy - h / 2.0 + 0.5 * h / sh - ay) * ky - 0.5],
            ]
        )
        cv2.warpAffine(
            region,
            m,
            (sw, sh),
            dst=fine[i * sh : (i + 1) * sh],
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    out = cv2.resize(fine, (ow, n * oh), interpolation=cv2.INTER_AREA)
    return out.reshape(n, oh, ow, *frame.shape[2:])


def _region(start: float, stop: float, limit: int, zoom: float) -> tuple[int, int, int]:
    """Along one axis: the in-frame whole pixels [a, b) covering [start, stop), and how many
    pixels they shrink to at ``zoom`` (at least one)."""
    a, b = _in_frame(int(np.floor(start)), int(np.ceil(stop)), limit)
    return a, b, max(1, round((b - a) * zoom))


def _in_frame(start: int, stop: int, limit: int) -> tuple[int, int]:
    """[start, stop) clipped to [0, limit), never empty: the window's in-frame pixels."""
    a = min(max(start, 0), limit - 1)
    return a, max(min(stop, limit), a + 1)
