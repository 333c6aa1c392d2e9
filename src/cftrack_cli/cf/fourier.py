"""Fourier-domain helpers shared by the trackers and the distillation loss.

Functions that take arrays work on numpy arrays and on torch tensors alike (the distillation
loss backpropagates through them); the FFT backend is picked from the argument's type.
Spatial axes are always the last two.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def rfft2(x: Any) -> Any:
    """Real 2-D FFT over the last two axes (numpy or torch)."""
    if _is_torch(x):
        import torch

        return torch.fft.rfft2(x)
    return np.fft.rfft2(x)


def irfft2(xf: Any, size: tuple[int, int]) -> Any:
    """Inverse of :func:`rfft2`; ``size`` is the spatial (height, width)."""
    if _is_torch(xf):
        import torch

        return torch.fft.irfft2(xf, s=size)
    return np.fft.irfft2(xf, s=size)


def rfft2_stack(x: np.ndarray, norm: str = "backward") -> np.ndarray:
    """:func:`numpy.fft.rfft2` of a stack of maps (..., H, W), computed by torch's FFT (MKL in
    torch's x86 builds): 0.05x to 0.37x of numpy's time on the trackers' stacks, one 64x64
    map included (benchmarks/array_ops.py)."""
    import torch

    return torch.fft.rfft2(torch.from_numpy(np.ascontiguousarray(x)), norm=norm).numpy()


def irfft2_stack(xf: np.ndarray, size: tuple[int, int], norm: str = "backward") -> np.ndarray:
    """:func:`numpy.fft.irfft2` with ``s=size`` of a stack of half spectra, by torch's FFT
    (see :func:`rfft2_stack`)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(xf))
    return torch.fft.irfft2(x, s=size, norm=norm).numpy()


def hann_window(height: int, width: int) -> np.ndarray:
    """Separable cosine (Hann) window without the zero end points, float32 (H, W)."""
    wy = np.hanning(height + 2)[1:-1]
    wx = np.hanning(width + 2)[1:-1]
    return np.outer(wy, wx).astype(np.float32)


def gaussian_label(height: int, width: int, sigma: float, centered: bool = False) -> np.ndarray:
    """A 2-D Gaussian of peak 1, float32 (H, W).

    Not centred (the default), the peak sits at index (0, 0) and wraps around, so the peak
    index of a correlation response is directly the displacement (the CF convention).
    """
    ys = np.arange(height) - (height // 2 if centered else 0)
    xs = np.arange(width) - (width // 2 if centered else 0)
    if not centered:
        ys = (ys + height // 2) % height - height // 2
        xs = (xs + width // 2) % width - width // 2
    g = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2) / sigma**2)
    return g.astype(np.float32)


def _parabola_offset(left: float, mid: float, right: float) -> float:
    denom = left - 2.0 * mid + right
    if denom >= 0:  # not a maximum: keep the integer peak
        return 0.0
    return float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))


def subpixel_peak(response: np.ndarray) -> tuple[float, float, float]:
    """Peak of a wrapped (H, W) response: (dy, dx, value), displacements in [-H/2, H/2)."""
    h, w = response.shape
    iy, ix = np.unravel_index(int(np.argmax(response)), response.shape)
    value = float(response[iy, ix])
    oy = _parabola_offset(response[(iy - 1) % h, ix], value, response[(iy + 1) % h, ix])
    ox = _parabola_offset(response[iy, (ix - 1) % w], value, response[iy, (ix + 1) % w])
    dy = (iy + h // 2) % h - h // 2 + oy
    dx = (ix + w // 2) % w - w // 2 + ox
    return float(dy), float(dx), value


def shift_spectrum(xf: np.ndarray, dy: float, dx: float, size: tuple[int, int]) -> np.ndarray:
    """Translate a signal by (dy, dx) samples through its rfft2 spectrum (circularly)."""
    h, w = size
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    phase = np.exp(-2j * np.pi * (ky * dy + kx * dx)).astype(xf.dtype)
    return xf * phase


def resize_spectrum_1d(xf: np.ndarray, n_out: int) -> np.ndarray:
    """Zero-pad (or crop) a full 1-D spectrum (last axis) from n to ``n_out`` samples.

    The inverse FFT of the result is the band-limited interpolation of the signal onto
    ``n_out`` points, scaled so values keep their amplitude.
    """
    n_in = xf.shape[-1]
    out = np.zeros((*xf.shape[:-1], n_out), dtype=xf.dtype)
    half = (min(n_in, n_out) + 1) // 2
    out[..., :half] = xf[..., :half]
    rest = min(n_in, n_out) - half
    if rest > 0:
        out[..., n_out - rest :] = xf[..., n_in - rest :]
    return out * (n_out / n_in)
