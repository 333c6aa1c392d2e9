"""Scale estimation: the fDSST scale filter with ECO's parabolic refinement, and its sampling."""

import time

import cv2
import numpy as np
import pytest

from cftrack_cli.cf.scale import ScaleParams, parabola_vertex
from cftrack_cli.trackers.scale_estimation import ScaleEstimator


def _textured(seed: int = 0, size: int = 240) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def _zoom(image: np.ndarray, factor: float, centre: tuple[float, float]) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, 0.0, factor)
    return cv2.warpAffine(image, m, image.shape[1::-1], flags=cv2.INTER_LINEAR)


def test_parabola_vertex():
    xs = np.array([0.9, 1.0, 1.1])
    assert parabola_vertex(xs, -((xs - 1.03) ** 2)) == pytest.approx(1.03)
    assert parabola_vertex(xs, np.array([0.0, 1.0, 0.0])) == pytest.approx(1.0)
    assert parabola_vertex(xs, (xs - 1.0) ** 2) == pytest.approx(1.0)  # a minimum: keep centre


@pytest.mark.parametrize("change", [0.9, 0.95, 1.0, 1.045, 1.1])
def test_scale_filter_recovers_a_known_scale_change(change):
    image = _textured()
    centre = (120.0, 120.0)
    target = np.array([48.0, 40.0])
    scaler = ScaleEstimator(ScaleParams(), (240, 240), target, min_target_px=5.0)
    scaler.update(image, centre, target)
    zoomed = _zoom(image, change, centre)
    factor = scaler.estimate(zoomed, centre, target)
    # One estimate moves most of the way (the window over scales pulls it towards 1) ...
    assert abs(factor - change) <= 0.35 * abs(change - 1.0) + 0.005
    # ... and re-estimating at the new size, as the tracker does frame after frame, converges.
    size = factor
    for _ in range(4):
        size *= scaler.estimate(zoomed, centre, target * size)
    assert size == pytest.approx(change, abs=0.01)


def test_refinement_can_be_switched_off():
    """Without the parabola the estimate is one of the interpolated factors exactly."""
    image = _textured(1)
    centre = (120.0, 120.0)
    target = np.array([48.0, 40.0])
    plain = ScaleEstimator(ScaleParams(refine=False), (240, 240), target, min_target_px=5.0)
    plain.update(image, centre, target)
    factor = plain.estimate(_zoom(image, 1.05, centre), centre, target)
    assert np.isclose(plain.filter.interp_factors, factor).any()


def test_size_limits_hold():
    image = _textured(2)
    centre = (120.0, 120.0)
    target = np.array([48.0, 40.0])
    scaler = ScaleEstimator(ScaleParams(), (240, 240), target, min_target_px=38.0)
    scaler.update(image, centre, target)
    zoomed = _zoom(image, 0.8, centre)
    size = target.copy()
    for _ in range(8):  # the target shrank to 32 px; the estimate stops at the limit
        size = size * scaler.estimate(zoomed, centre, size)
        assert min(size) >= 38.0 - 1e-6
    assert min(size) == pytest.approx(38.0)


def test_scale_stage_times_the_filter_maths(monkeypatch):
    """bench's "scale" column holds the scale filter's own maths (its QRs, FFTs), not only the
    sampling: slowing the filter down by a known amount shows up in that stage."""
    from cftrack_cli.cf.scale import ScaleFilter
    from cftrack_cli.timing import StageTimer

    delay = 0.02
    for name in ("update", "estimate"):
        original = getattr(ScaleFilter, name)

        def slowed(self, samples, _original=original):
            time.sleep(delay)
            return _original(self, samples)

        monkeypatch.setattr(ScaleFilter, name, slowed)
    image = _textured(3)
    centre = (120.0, 120.0)
    target = np.array([48.0, 40.0])
    timer = StageTimer()
    scaler = ScaleEstimator(ScaleParams(), (240, 240), target, 5.0, timer)
    scaler.update(image, centre, target)
    scaler.estimate(image, centre, target)
    assert timer.calls["scale"] == 2
    assert timer.seconds["scale"] >= 2 * delay
