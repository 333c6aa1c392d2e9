"""Hand-crafted features for correlation-filter trackers: fHOG, ColorNames and grayscale.

``fhog`` follows Piotr Dollar's toolbox (``gradientMex.cpp``: ``gradMag``, ``gradHist``,
``hogNormMatrix``, ``hogChannels``, ``fhog``), the variant DSST, C-COT and ECO use, written
with numpy/OpenCV array operations instead of per-pixel loops. The 31 channels per cell are
18 contrast-sensitive orientations, 9 contrast-insensitive ones and 4 texture channels (the
toolbox's always-zero 32nd channel is left out, as the trackers do).

Deliberate deviations from the toolbox:

* orientation is exact (``arctan2``) rather than read from a 20000-entry ``acos`` table;
* by default the orientation is linearly interpolated between its two nearest bins (the
  toolbox's ``softBin=1``); its ``fhog.m`` uses ``softBin=-1``, the nearest bin only, which
  ``soft_orientation=False`` reproduces;
* grids one cell wide or tall get their block normalisers from replicated energies (the
  toolbox reads uninitialised values there).
"""

from __future__ import annotations

import functools
from importlib import resources

import cv2
import numpy as np

from cftrack_cli.features.base import FeatureExtractor

__all__ = [
    "FHOG",
    "ColorNames",
    "Concat",
    "Grayscale",
    "colornames_table",
    "fhog",
    "is_grayscale",
]

# Felzenszwalb's scaling of the summed truncated features.
_ORIENT_SCALE = 0.5
_TEXTURE_SCALE = 0.2357
# Border cells lose 1/8 of the tent weight interior cells get (exact for even cell sizes);
# the toolbox scales them back up by 8/7 for every cell size.
_BORDER_GAIN = 8.0 / 7.0

_KX = np.array([[-0.5, 0.0, 0.5]], dtype=np.float32)
_KY = np.ascontiguousarray(_KX.T)


# --------------------------------------------------------------------------------------
# Input handling


def _as_batch(patches: np.ndarray) -> np.ndarray:
    """Patches as a contiguous (N, H, W, C) uint8 or float32 array, C in {1, 3}."""
    patches = np.asarray(patches)
    if patches.ndim == 3:  # a batch of grayscale patches
        patches = patches[..., None]
    if patches.ndim != 4 or patches.shape[-1] not in (1, 3):
        raise ValueError(f"patches must be (N, H, W, 3) or (N, H, W), got {patches.shape}")
    if patches.dtype != np.uint8:
        patches = patches.astype(np.float32, copy=False)
    return np.ascontiguousarray(patches)


def _planes(batch: np.ndarray) -> list[np.ndarray]:
    """The colour planes of a batch, each (N * H, W): images stacked vertically."""
    n, h, w, c = batch.shape
    if c == 1:
        return [batch.reshape(n * h, w)]
    return list(cv2.split(batch.reshape(n * h, w, c)))


def _cell_mean(maps: np.ndarray, cell_size: int) -> np.ndarray:
    """Mean over non-overlapping cells: (N, H, W, C) float32 -> (N, C, H // c, W // c).

    Pixels past the last whole cell are dropped. OpenCV's area resize at an integer factor is
    exactly a cell mean and much faster than numpy reductions over short axes; the batch is
    stacked vertically, which is safe because every image is cropped to whole cells.
    """
    n, h, w, ch = maps.shape
    c = cell_size
    hb, wb = h // c, w // c
    if n == 0 or hb == 0 or wb == 0:
        return np.zeros((n, ch, hb, wb), dtype=np.float32)
    stacked = maps[:, : hb * c, : wb * c].reshape(n * hb * c, wb * c, ch)
    means = cv2.resize(stacked, (wb, n * hb), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(means.reshape(n, hb, wb, ch).transpose(0, 3, 1, 2))


# --------------------------------------------------------------------------------------
# fHOG


def _gradients(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel (gx, gy, gx^2 + gy^2), each (N, H, W), from the colour channel with the
    largest gradient.

    Central differences inside, one-sided differences on the image border (as the toolbox).
    """
    n, h, w, _ = batch.shape
    best_gx = best_gy = best_m2 = None
    for plane in _planes(batch):  # at most 3 colour planes
        gx = cv2.filter2D(plane, cv2.CV_32F, _KX, borderType=cv2.BORDER_REPLICATE)
        # Planes are stacked vertically, so rows next to image seams are wrong here; they are
        # the border rows, recomputed one-sided below.
        gy = cv2.filter2D(plane, cv2.CV_32F, _KY, borderType=cv2.BORDER_REPLICATE)
        gx, gy, img = gx.reshape(n, h, w), gy.reshape(n, h, w), plane.reshape(n, h, w)
        if w > 1:  # a replicated border halves the one-sided difference
            gx[:, :, 0] *= 2.0
            gx[:, :, -1] *= 2.0
        if h > 1:
            gy[:, 0] = img[:, 1].astype(np.float32) - img[:, 0]
            gy[:, -1] = img[:, -1].astype(np.float32) - img[:, -2]
        else:
            gy[:] = 0.0
        m2 = gx * gx + gy * gy
        if best_m2 is None:
            best_gx, best_gy, best_m2 = gx, gy, m2
        else:  # strictly larger wins, so ties keep the first channel
            # A 0/1 blend: masked copies (np.where, copyto(where=)) are ~10x slower.
            larger = (m2 > best_m2).astype(np.float32)
            best_gx += larger * (gx - best_gx)
            best_gy += larger * (gy - best_gy)
            np.maximum(best_m2, m2, out=best_m2)
    return best_gx, best_gy, best_m2


@functools.lru_cache(maxsize=32)
def _scatter_plan(
    n: int, hb: int, wb: int, cell_size: int, n_bins: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Where each histogrammed pixel goes in the dense buffer, and the tent weights.

    Pixel (y, x) has cell coordinate ``(y + 0.5) / c - 0.5``, so it lies between the centres
    of cells ``k = floor(.)`` and ``k + 1``: all pixels of such a "dual block" share the same
    4 target cells and their bilinear weights depend only on the position inside the block.
    The buffer is laid out (iy, ix, n, o, by, bx) with (iy, ix) the position inside a dual
    block, (by, bx) the block (shifted by one so block -1 exists) and o the orientation (one
    spare bin for the wrap-around), so the whole spatial aggregation is one (4, c*c) matmul.

    Returns the flat base index of every pixel of the cropped (N, hb*c, wb*c) grid, the
    (4, c*c) corner weights (dy, dx) with the toolbox's 1/c^2 magnitude scaling folded in,
    and the buffer size.
    """
    c = cell_size
    shift = c - c // 2  # pixel y lands in dual row y + shift
    nbins = n_bins + 1
    plane = (hb + 1) * (wb + 1)
    yy = np.arange(hb * c) + shift
    xx = np.arange(wb * c) + shift
    by, iy = np.divmod(yy, c)
    bx, ix = np.divmod(xx, c)
    per_iy = c * n * nbins * plane
    per_ix = n * nbins * plane
    row = iy * per_iy + by * (wb + 1)
    col = ix * per_ix + bx
    img = np.arange(n) * (nbins * plane)
    base = img[:, None, None] + row[None, :, None] + col[None, None, :]
    base = base.astype(np.intp).ravel()  # index of orientation 0; bins are `plane` apart
    base.setflags(write=False)  # shared by every call through the cache

    frac = (np.arange(c) + c // 2 + 0.5) / c - 0.5  # position past the upper cell centre
    wy = np.stack([1.0 - frac, frac])  # (2, c): to cell k, to cell k + 1
    weights = (np.einsum("ai,bj->abij", wy, wy).reshape(4, c * c) / (c * c)).astype(np.float32)
    weights.setflags(write=False)
    return base, weights, c * c * per_ix


def _orientation_histograms(
    gx: np.ndarray, gy: np.ndarray, m2: np.ndarray, cell_size: int, n_bins: int, soft: bool
) -> np.ndarray:
    """(N, n_bins, hb, wb) tent-weighted histograms of gradient orientation over 0..2pi."""
    n, h, w = gx.shape
    c = cell_size
    hb, wb = h // c, w // c
    gx = gx[:, : hb * c, : wb * c]
    gy = gy[:, : hb * c, : wb * c]
    mag = np.sqrt(m2[:, : hb * c, : wb * c]).ravel()
    # atan2(-gy, -gx) + pi is the angle in [0, 2pi] without a masked wrap-around.
    o = np.arctan2(np.negative(gy), np.negative(gx)).ravel()
    o += np.float32(np.pi)
    o *= np.float32(n_bins / (2.0 * np.pi))  # now in [0, n_bins]

    base, weights, size = _scatter_plan(n, hb, wb, c, n_bins)
    plane = (hb + 1) * (wb + 1)
    buf = np.zeros(size, np.float32)
    if soft:
        low = np.minimum(np.floor(o), np.float32(n_bins - 1))  # o == n_bins: all to spare bin
        m1 = mag * (o - low)
        idx = base + low.astype(np.intp) * plane
        buf[idx] = mag - m1
        buf[idx + plane] = m1
    else:
        nearest = (o + np.float32(0.5)).astype(np.intp)
        buf[base + nearest * plane] = mag
    corners = weights @ buf.reshape(c * c, -1)
    corners = corners.reshape(2, 2, n, n_bins + 1, hb + 1, wb + 1)
    hist = (
        corners[0, 0, ..., 1:, 1:]
        + corners[0, 1, ..., 1:, :-1]
        + corners[1, 0, ..., :-1, 1:]
        + corners[1, 1, ..., :-1, :-1]
    )
    hist[:, 0] += hist[:, n_bins]  # the spare bin is angle 2pi, i.e. bin 0
    hist = hist[:, :n_bins]
    gain_y = np.ones(hb, dtype=np.float32)
    gain_x = np.ones(wb, dtype=np.float32)
    for gain in (gain_y, gain_x):  # multiplied twice when the grid is one cell wide
        gain[0] *= _BORDER_GAIN
        gain[-1] *= _BORDER_GAIN
    hist *= gain_y[:, None] * gain_x[None, :]
    return hist


def _block_normalisers(energy: np.ndarray, cell_size: int) -> np.ndarray:
    """The 4 normalisers of every cell, (4, N, hb, wb), from (N, hb, wb) cell energies.

    Each 2x2 block of cells gives 1/sqrt(block energy); the block grid is padded by
    replication to (hb + 1, wb + 1) so that cell (y, x) uses blocks (y..y+1, x..x+1) of it.
    Order as the toolbox's texture channels: blocks down-right, up-right, down-left, up-left.
    """
    _, hb, wb = energy.shape
    eps = np.float32(1e-4 / 4 / cell_size**4)  # the toolbox's, for its 1/c^2 scaled magnitude
    if hb == 1 or wb == 1:
        energy = np.pad(energy, ((0, 0), (0, hb == 1), (0, wb == 1)), mode="edge")
    blocks = energy[:, :-1, :-1] + energy[:, 1:, :-1] + energy[:, :-1, 1:] + energy[:, 1:, 1:]
    inv = 1.0 / np.sqrt(blocks + eps)
    rows = np.clip(np.arange(hb + 1) - 1, 0, inv.shape[1] - 1)
    cols = np.clip(np.arange(wb + 1) - 1, 0, inv.shape[2] - 1)
    padded = inv[:, rows[:, None], cols[None, :]]
    return np.stack(
        [
            padded[:, 1:, 1:],
            padded[:, :-1, 1:],
            padded[:, 1:, :-1],
            padded[:, :-1, :-1],
        ]
    )


def fhog(
    patches: np.ndarray,
    cell_size: int = 4,
    n_orients: int = 9,
    clip: float = 0.2,
    *,
    soft_orientation: bool = True,
) -> np.ndarray:
    """Felzenszwalb HOG of a batch: (N, H, W, 3) or (N, H, W) -> (N, 3*n_orients+4, H//c, W//c).

    Channels: 2*n_orients contrast-sensitive orientations, n_orients contrast-insensitive
    ones, then 4 texture channels. Pixels past the last whole cell only feed the gradients.
    """
    if cell_size < 1 or n_orients < 1:
        raise ValueError("cell_size and n_orients must be positive")
    batch = _as_batch(patches)
    n, h, w, _ = batch.shape
    hb, wb = h // cell_size, w // cell_size
    n_sens = 2 * n_orients
    if n == 0 or hb == 0 or wb == 0:
        return np.zeros((n, 3 * n_orients + 4, hb, wb), dtype=np.float32)
    out = np.empty((n, 3 * n_orients + 4, hb, wb), dtype=np.float32)
    gx, gy, m2 = _gradients(batch)
    sens = _orientation_histograms(gx, gy, m2, cell_size, n_sens, soft_orientation)
    hist = np.concatenate([sens, sens[:, :n_orients] + sens[:, n_orients:]], axis=1)
    energy = np.einsum("nohw,nohw->nhw", hist[:, n_sens:], hist[:, n_sens:])
    norms = _block_normalisers(energy, cell_size)  # (4, N, hb, wb)
    clipped = hist[None] * norms[:, :, None]  # (4, N, 27, hb, wb)
    # Truncate with OpenCV: np.minimum against a scalar is ~4x slower.
    cv2.threshold(
        clipped.reshape(-1, hb * wb), clip, 0.0, cv2.THRESH_TRUNC, dst=clipped.reshape(-1, hb * wb)
    )
    np.multiply(clipped.sum(0), np.float32(_ORIENT_SCALE), out=out[:, : 3 * n_orients])
    texture = clipped[:, :, :n_sens].sum(2) * np.float32(_TEXTURE_SCALE)  # (4, N, hb, wb)
    out[:, 3 * n_orients :] = texture.transpose(1, 0, 2, 3)
    return out


# --------------------------------------------------------------------------------------
# ColorNames and grayscale


@functools.cache
def colornames_table() -> np.ndarray:
    """The CNnorm ColorNames table (32768, 10) float32, row ``r//8 + 32*(g//8) + 1024*(b//8)``."""
    ref = resources.files("cftrack_cli").joinpath("data", "colornames_cnnorm.npy")
    with ref.open("rb") as f:
        table = np.load(f).astype(np.float32)
    if table.shape != (32768, 10):
        raise ValueError(f"unexpected ColorNames table shape {table.shape}")
    table.setflags(write=False)
    return table


@functools.cache
def _colornames_rows() -> np.ndarray:
    """The table as one 40-byte item per row: ``take`` then copies rows ~2x faster."""
    return np.ascontiguousarray(colornames_table()).view(np.dtype((np.void, 40))).ravel()


def _colour_index(batch: np.ndarray) -> np.ndarray:
    """ColorNames row ``r//8 + 32*(g//8) + 1024*(b//8)`` of every pixel, (N*H*W,) intp."""
    if batch.dtype != np.uint8:
        batch = np.clip(batch, 0.0, 255.0).astype(np.uint8)  # floor, as the //8 of the table
    q = [p >> 3 for p in _planes(batch)]
    if batch.shape[-1] == 1:  # grey: R = G = B
        return (q[0].astype(np.intp) * (1 + 32 + 1024)).ravel()
    r, g, b = (p.astype(np.uint16) for p in q)
    # uint16 arithmetic is cheap, but take() wants intp indices (other types are 6x slower).
    return (r | (g << 5) | (b << 10)).astype(np.intp).ravel()


class _CellExtractor(FeatureExtractor):
    def __init__(self, cell_size: int = 4) -> None:
        if cell_size < 1:
            raise ValueError(f"cell_size must be positive, got {cell_size}")
        self._cell_size = int(cell_size)

    @property
    def cell_size(self) -> int:
        return self._cell_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cell_size={self._cell_size})"


class FHOG(_CellExtractor):
    """fHOG, 31 channels (see :func:`fhog`; ``soft_orientation=False`` is the toolbox's)."""

    def __init__(self, cell_size: int = 4, *, soft_orientation: bool = True) -> None:
        super().__init__(cell_size)
        self.soft_orientation = soft_orientation

    @property
    def dim(self) -> int:
        return 31

    def extract(self, patches: np.ndarray) -> np.ndarray:
        return fhog(patches, self._cell_size, soft_orientation=self.soft_orientation)


class ColorNames(_CellExtractor):
    """ColorNames probabilities (CNnorm), looked up per pixel and averaged over each cell."""

    @property
    def dim(self) -> int:
        return 10

    def extract(self, patches: np.ndarray) -> np.ndarray:
        batch = _as_batch(patches)
        n, h, w, _ = batch.shape
        c = self._cell_size
        hb, wb = h // c, w // c
        if n == 0 or hb == 0 or wb == 0:
            return np.zeros((n, 10, hb, wb), dtype=np.float32)
        cropped = np.ascontiguousarray(batch[:, : hb * c, : wb * c])
        rows = _colornames_rows().take(_colour_index(cropped))
        per_pixel = rows.view(np.float32).reshape(n, hb * c, wb * c, 10)
        return _cell_mean(per_pixel, c)


class Grayscale(_CellExtractor):
    """Intensity / 255 - 0.5, averaged over each cell (the fallback for grey sequences)."""

    @property
    def dim(self) -> int:
        return 1

    def extract(self, patches: np.ndarray) -> np.ndarray:
        batch = _as_batch(patches)
        c = self._cell_size
        means = _cell_mean(batch.astype(np.float32), c)  # (N, 1 or 3, hb, wb)
        grey = means.mean(axis=1, keepdims=True) if means.shape[1] > 1 else means
        return grey * np.float32(1.0 / 255.0) - np.float32(0.5)


class Concat(FeatureExtractor):
    """Several extractors with the same cell size, stacked along channels in the given order."""

    def __init__(self, *extractors: FeatureExtractor) -> None:
        if not extractors:
            raise ValueError("Concat needs at least one extractor")
        sizes = {e.cell_size for e in extractors}
        if len(sizes) != 1:
            raise ValueError(f"Concat needs one cell size, got {sorted(sizes)}")
        self.extractors = tuple(extractors)

    @property
    def dim(self) -> int:
        return sum(e.dim for e in self.extractors)

    @property
    def cell_size(self) -> int:
        return self.extractors[0].cell_size

    def extract(self, patches: np.ndarray) -> np.ndarray:
        return np.concatenate([e.extract(patches) for e in self.extractors], axis=1)

    def __repr__(self) -> str:
        return f"Concat({', '.join(map(repr, self.extractors))})"


def is_grayscale(frame: np.ndarray, samples: int = 4096) -> bool:
    """True when an RGB frame has R == G == B, judged on about ``samples`` pixels on a grid."""
    frame = np.asarray(frame)
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[-1] == 1):
        return True
    if frame.ndim != 3 or frame.shape[-1] < 3:
        raise ValueError(f"frame must be (H, W), (H, W, 1) or (H, W, 3), got {frame.shape}")
    h, w = frame.shape[:2]
    step = max(1, int(np.sqrt(h * w / max(samples, 1))))
    sub = frame[::step, ::step, :3]
    return bool(
        np.array_equal(sub[..., 0], sub[..., 1]) and np.array_equal(sub[..., 1], sub[..., 2])
    )
