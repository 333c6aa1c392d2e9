"""fHOG, ColorNames, Grayscale and Concat extractors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cftrack_cli.features.handcrafted import (
    FHOG,
    ColorNames,
    Concat,
    Grayscale,
    colornames_table,
    fhog,
    is_grayscale,
)

RNG_SEED = 1234


def _random_image(shape: tuple[int, ...], seed: int = RNG_SEED) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# --------------------------------------------------------------------------------------
# A slow, loop-by-loop fHOG written straight from the description of Piotr's toolbox.


def _reference_fhog(image: np.ndarray, cell: int = 4, soft: bool = True) -> np.ndarray:
    """fHOG of one (H, W, C) image, one pixel / cell / channel at a time, in float64."""
    img = image.astype(np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w, channels = img.shape
    n_orients, n_bins, clip = 9, 18, 0.2

    def diff(values: list[float], i: int) -> float:
        if i == 0:
            return values[1] - values[0]
        if i == len(values) - 1:
            return values[i] - values[i - 1]
        return (values[i + 1] - values[i - 1]) / 2

    mag = [[0.0] * w for _ in range(h)]
    ang = [[0.0] * w for _ in range(h)]
    for y in range(h):
        for x in range(w):
            best = (-1.0, 0.0, 0.0)
            for ch in range(channels):
                gx = diff([img[y, i, ch] for i in range(w)], x)
                gy = diff([img[i, x, ch] for i in range(h)], y)
                if gx * gx + gy * gy > best[0]:
                    best = (gx * gx + gy * gy, gx, gy)
            mag[y][x] = math.sqrt(best[0])
            ang[y][x] = math.atan2(best[2], best[1]) % (2 * math.pi)

    hb, wb = h // cell, w // cell
    hist = np.zeros((hb, wb, n_bins))
    for y in range(hb * cell):
        for x in range(wb * cell):
            o = ang[y][x] * n_bins / (2 * math.pi)
            if soft:
                low = math.floor(o)
                bins = [(low % n_bins, 1 - (o - low)), ((low + 1) % n_bins, o - low)]
            else:
                bins = [(math.floor(o + 0.5) % n_bins, 1.0)]
            yb, xb = (y + 0.5) / cell - 0.5, (x + 0.5) / cell - 0.5
            for cy in (math.floor(yb), math.floor(yb) + 1):
                for cx in (math.floor(xb), math.floor(xb) + 1):
                    if 0 <= cy < hb and 0 <= cx < wb:
                        spatial = (1 - abs(yb - cy)) * (1 - abs(xb - cx))
                        for b, wo in bins:
                            hist[cy, cx, b] += spatial * wo * mag[y][x] / cell**2
    for cy in range(hb):
        for cx in range(wb):
            for edge in (cy == 0, cy == hb - 1, cx == 0, cx == wb - 1):
                if edge:
                    hist[cy, cx] *= 8 / 7

    insensitive = hist[:, :, :n_orients] + hist[:, :, n_orients:]
    energy = (insensitive**2).sum(-1)
    eps = 1e-4 / 4 / cell**4

    def block(i: int, j: int) -> float:  # the 2x2 block with top-left cell (i, j), clamped
        i, j = min(max(i, 0), hb - 2), min(max(j, 0), wb - 2)
        return 1 / math.sqrt(energy[i : i + 2, j : j + 2].sum() + eps)

    feats = np.zeros((31, hb, wb))
    for cy in range(hb):
        for cx in range(wb):
            values = list(hist[cy, cx]) + list(insensitive[cy, cx])
            norms = [block(cy, cx), block(cy - 1, cx), block(cy, cx - 1), block(cy - 1, cx - 1)]
            for k, nrm in enumerate(norms):
                for ch, v in enumerate(values):
                    feats[ch, cy, cx] += 0.5 * min(v * nrm, clip)
                feats[27 + k, cy, cx] = 0.2357 * sum(min(v * nrm, clip) for v in values[:18])
    return feats


@pytest.mark.parametrize("soft", [True, False])
@pytest.mark.parametrize("shape", [(16, 20, 3), (18, 23, 3), (16, 20)])
def test_fhog_matches_loop_reference(shape: tuple[int, ...], soft: bool) -> None:
    image = _random_image(shape)
    got = fhog(image[None], 4, soft_orientation=soft)[0]
    want = _reference_fhog(image, 4, soft)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_fhog_matches_reference_for_smooth_image_and_odd_cell() -> None:
    # Smooth content keeps many features below the clip, so the normalisation is exercised.
    y, x = np.mgrid[0:15, 0:17]
    image = (120 + 60 * np.sin(x / 3.0) * np.cos(y / 4.0) + 3 * x).astype(np.float32)
    got = fhog(image[None], 3)[0]
    np.testing.assert_allclose(got, _reference_fhog(image, 3), atol=1e-4, rtol=0)


def test_fhog_matches_reference_for_faint_image() -> None:
    # Gradients of ~1e-4 grey levels: block energies are close to eps, so eps matters.
    image = _random_image((12, 16, 3)).astype(np.float32) * np.float32(1e-6)
    got = fhog(image[None])[0]
    want = _reference_fhog(image)
    assert np.abs(want - fhog(image[None] * np.float32(1e6))[0]).max() > 0.01
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_fhog_extractor_passes_the_orientation_mode() -> None:
    image = _random_image((12, 16, 3))
    for soft in (True, False):
        got = FHOG(soft_orientation=soft).extract(image[None])[0]
        np.testing.assert_allclose(got, _reference_fhog(image, 4, soft), atol=1e-4, rtol=0)


def test_fhog_batch_equals_single_images() -> None:
    batch = _random_image((3, 12, 16, 3))
    together = fhog(batch)
    for i in range(3):
        np.testing.assert_allclose(together[i], fhog(batch[i : i + 1])[0], atol=1e-6)


# --------------------------------------------------------------------------------------
# Shapes and dtypes


@pytest.mark.parametrize("size", [(16, 16), (17, 23), (32, 64), (5, 9), (200, 200)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize(
    "extractor", [FHOG(), ColorNames(), Grayscale(), FHOG(cell_size=6), ColorNames(3)], ids=repr
)
def test_extractor_shapes(size: tuple[int, int], dtype: type, extractor) -> None:
    patches = _random_image((2, *size, 3)).astype(dtype)
    out = extractor.extract(patches)
    c = extractor.cell_size
    assert out.shape == (2, extractor.dim, size[0] // c, size[1] // c)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert extractor.output_size(*size) == out.shape[2:]


def test_dims() -> None:
    assert (FHOG().dim, ColorNames().dim, Grayscale().dim) == (31, 10, 1)


def test_uint8_and_float_inputs_agree() -> None:
    patches = _random_image((2, 24, 28, 3))
    for extractor in (FHOG(), ColorNames(), Grayscale()):
        np.testing.assert_allclose(
            extractor.extract(patches), extractor.extract(patches.astype(np.float32)), atol=1e-6
        )


def test_grayscale_batch_input_equals_grey_rgb() -> None:
    grey = _random_image((2, 20, 24))
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    for extractor in (FHOG(), ColorNames(), Grayscale()):
        out = extractor.extract(grey)
        assert out.shape == (2, extractor.dim, 5, 6)
        np.testing.assert_allclose(out, extractor.extract(rgb), atol=1e-6)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        FHOG().extract(np.zeros((2, 16, 16, 4), np.uint8))
    with pytest.raises(ValueError):
        ColorNames().extract(np.zeros((16, 16), np.uint8))


def test_patches_smaller_than_a_cell_give_empty_maps() -> None:
    out = FHOG().extract(np.zeros((1, 3, 10, 3), np.uint8))
    assert out.shape == (1, 31, 0, 2)


# --------------------------------------------------------------------------------------
# fHOG behaviour


def _stripes(vertical: bool, size: int = 32, period: float = 8.0) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    coord = x if vertical else y
    grey = 128 + 100 * np.sin(2 * np.pi * coord / period)
    return np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)[None]


def test_orientation_selectivity() -> None:
    vertical = fhog(_stripes(True))[0, 18:27].sum(axis=(1, 2))
    horizontal = fhog(_stripes(False))[0, 18:27].sum(axis=(1, 2))
    # Vertical stripes vary along x: gradients at 0 / pi, contrast-insensitive bin 0.
    assert vertical.argmax() == 0
    assert vertical[0] > 0.9 * vertical.sum()
    # Horizontal stripes: gradients at pi/2, half way between bins 4 and 5.
    assert set(np.argsort(horizontal)[-2:]) == {4, 5}
    assert horizontal[4] + horizontal[5] > 0.9 * horizontal.sum()
    assert vertical[4] + vertical[5] < 0.05 * vertical.sum()


def test_contrast_sensitive_bins_see_the_gradient_sign() -> None:
    ramp = np.tile(np.arange(32, dtype=np.float32) * 4, (32, 1))  # brighter to the right
    right = fhog(ramp[None])[0, :18].sum(axis=(1, 2))
    left = fhog(ramp[None, :, ::-1].copy())[0, :18].sum(axis=(1, 2))
    assert right.argmax() == 0  # gradient angle 0
    assert left.argmax() == 9  # gradient angle pi


def test_constant_image_gives_zero_features() -> None:
    out = fhog(np.full((1, 24, 24, 3), 77, np.uint8))
    assert not out[:, :27].any()
    assert not out.any()


def test_contrast_invariance() -> None:
    image = 40.0 + 0.6 * _random_image((1, 32, 32, 3)).astype(np.float32)
    full = fhog(image)
    half = fhog(image * 0.5)
    assert np.abs(full).max() > 0.1
    np.testing.assert_allclose(half, full, atol=1e-3)


# --------------------------------------------------------------------------------------
# ColorNames and Grayscale


def _cn_row(rgb: tuple[int, int, int]) -> np.ndarray:
    r, g, b = rgb
    return colornames_table()[r // 8 + 32 * (g // 8) + 1024 * (b // 8)]


def test_colornames_table_loads_once() -> None:
    table = colornames_table()
    assert table.shape == (32768, 10)
    assert table.dtype == np.float32
    assert colornames_table() is table


def test_colornames_constant_colour_is_its_table_row() -> None:
    colour = (200, 30, 90)
    out = ColorNames().extract(np.full((1, 16, 20, 3), colour, np.uint8))
    want = _cn_row(colour)
    assert out.shape == (1, 10, 4, 5)
    # Exact up to float rounding in the cell mean.
    np.testing.assert_allclose(
        out[0].transpose(1, 2, 0), np.broadcast_to(want, (4, 5, 10)), rtol=1e-6, atol=1e-7
    )


def test_colornames_tells_colours_apart() -> None:
    red = ColorNames().extract(np.full((1, 8, 8, 3), (220, 20, 20), np.uint8))
    blue = ColorNames().extract(np.full((1, 8, 8, 3), (20, 20, 220), np.uint8))
    assert np.abs(red - blue).max() > 0.1


@pytest.mark.parametrize("split", [8, 6])
def test_colornames_cell_mean(split: int) -> None:
    a, b = (250, 240, 10), (10, 120, 30)
    patch = np.empty((1, 8, 16, 3), np.uint8)
    patch[:, :, :split] = a
    patch[:, :, split:] = b
    out = ColorNames().extract(patch)[0]  # cells are columns 0-3, 4-7, 8-11, 12-15
    row_a, row_b = _cn_row(a), _cn_row(b)
    mixed = (row_a + row_b) / 2 if split == 6 else row_a
    for cy in range(2):
        np.testing.assert_allclose(out[:, cy, 0], row_a, atol=1e-6)
        np.testing.assert_allclose(out[:, cy, 1], mixed, atol=1e-6)
        np.testing.assert_allclose(out[:, cy, 2], row_b, atol=1e-6)
        np.testing.assert_allclose(out[:, cy, 3], row_b, atol=1e-6)


def test_grayscale_values() -> None:
    patch = np.zeros((1, 8, 8, 3), np.uint8)
    patch[:, :, 4:] = (255, 255, 255)  # right cell white, left black
    patch[:, 4:, :4] = (30, 60, 90)  # bottom-left cell intensity 60
    out = Grayscale().extract(patch)
    np.testing.assert_allclose(out[0, 0], [[-0.5, 0.5], [60 / 255 - 0.5, 0.5]], atol=1e-6)


# --------------------------------------------------------------------------------------
# Concat and is_grayscale


def test_concat_dims_and_channel_order() -> None:
    parts = (FHOG(), ColorNames(), Grayscale())
    both = Concat(*parts)
    assert both.dim == 42
    assert both.cell_size == 4
    patches = _random_image((2, 20, 24, 3))
    out = both.extract(patches)
    assert out.shape == (2, 42, 5, 6)
    np.testing.assert_array_equal(out[:, :31], parts[0].extract(patches))
    np.testing.assert_array_equal(out[:, 31:41], parts[1].extract(patches))
    np.testing.assert_array_equal(out[:, 41:], parts[2].extract(patches))


def test_concat_refuses_mixed_cell_sizes() -> None:
    with pytest.raises(ValueError):
        Concat(FHOG(cell_size=4), ColorNames(cell_size=2))
    with pytest.raises(ValueError):
        Concat()


def test_is_grayscale() -> None:
    grey = _random_image((120, 160))
    assert is_grayscale(np.repeat(grey[..., None], 3, axis=-1))
    assert is_grayscale(grey)
    colour = _random_image((120, 160, 3))
    assert not is_grayscale(colour)
    tinted = np.repeat(grey[..., None], 3, axis=-1)
    tinted[..., 2] = np.minimum(tinted[..., 2], 254) + 1  # blue one level up everywhere
    assert not is_grayscale(tinted)
