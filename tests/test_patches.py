"""Cutting windows out of frames: one window and a stack of scales around one centre."""

import cv2
import numpy as np
import pytest

from cftrack_cli.features.patches import crop_resize, crop_resize_scales

FACTORS = 1.02 ** np.arange(-8, 9)


def _ramp(width: int = 320, height: int = 240) -> np.ndarray:
    """A float image whose value is the x coordinate of each pixel's centre (pixel i spans
    [i, i + 1)), so that any correct resampling returns the coordinates it sampled."""
    return np.tile((np.arange(width, dtype=np.float32) + 0.5)[None, :], (height, 1))


@pytest.mark.parametrize("centre", [(150.0, 120.0), (150.37, 119.81)])
def test_scale_stack_samples_each_window_at_its_subpixel_position_and_size(centre):
    size = np.array([73.3, 51.9])
    sizes = np.outer(FACTORS, size)
    out = crop_resize_scales(_ramp(), centre, sizes, (24, 16))
    assert out.shape == (len(FACTORS), 16, 24)
    for k, (w, _) in enumerate(sizes):
        expected = centre[0] - w / 2 + (np.arange(24) + 0.5) * w / 24
        np.testing.assert_allclose(out[k], np.broadcast_to(expected, (16, 24)), atol=0.05)
    # Adjacent 2 % scales differ: the steps survive (they would not at whole pixels).
    assert np.all(np.diff(out[:, 0, 0]) < -0.1)


def test_scale_stack_agrees_with_cutting_each_window_on_its_own():
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.uniform(0, 255, (240, 320, 3)).astype(np.float32), (0, 0), 4)
    centre, size = (160.0, 118.0), np.array([90.0, 70.0])
    stack = crop_resize_scales(image, centre, np.outer(FACTORS, size), (30, 22))
    for k in (0, 8, 16):
        alone = crop_resize(image, centre, tuple(FACTORS[k] * size), (30, 22))
        assert np.abs(stack[k] - alone).mean() < 0.03 * image.std() * 3


def test_scale_stack_repeats_the_border_outside_the_frame():
    image = _ramp()
    out = crop_resize_scales(image, (5.0, 120.0), np.outer(FACTORS, [60.0, 40.0]), (20, 10))
    assert out.shape == (len(FACTORS), 10, 20)
    # The left part lies before x = 0: every window repeats the same border value there, the
    # smallest in the stack and close to the frame's first column.
    border = out[0, 0, 0]
    np.testing.assert_allclose(out[:, :, 0], border, atol=1e-5)
    assert border == pytest.approx(out.min()) and border < 3
    assert np.all(out[:, :, -1] > 20)


def test_scale_stack_of_a_window_wholly_outside_the_frame_has_the_right_shape():
    image = (np.arange(240 * 320 * 3) % 251).astype(np.uint8).reshape(240, 320, 3)
    out = crop_resize_scales(image, (-500.0, 900.0), np.outer(FACTORS, [30.0, 30.0]), (12, 12))
    assert out.shape == (len(FACTORS), 12, 12, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.broadcast_to(image[-1, 0], out.shape))


def test_crop_resize_pads_with_the_border_and_keeps_the_output_size():
    image = _ramp()
    patch = crop_resize(image, (0.0, 120.0), (40.0, 40.0), (20, 20))
    assert patch.shape == (20, 20)
    # Half the window lies before x = 0 and repeats the first in-frame value (at 2:1).
    np.testing.assert_allclose(patch[:, :10], 1.0, atol=1e-6)
    np.testing.assert_allclose(patch[0, 10:], 1.0 + 2 * np.arange(10), atol=1e-4)
