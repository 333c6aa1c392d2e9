"""ECO's scale estimation: the fDSST scale filter with the parabolic refinement."""

import cv2
import numpy as np
import pytest

from cftrack_cli.cf.eco_scale import RefinedScaleFilter, parabola_vertex
from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.features.handcrafted import FHOG
from cftrack_cli.trackers.eco import scale_samples


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
    extractor = FHOG(4)
    sf = RefinedScaleFilter(ScaleParams())
    px = (32, 28)

    def samples(img: np.ndarray, size: float = 1.0) -> np.ndarray:
        return scale_samples(img, centre, target * size, sf.sample_factors, px, extractor)

    sf.update(samples(image))
    zoomed = _zoom(image, change, centre)
    factor, peak = sf.estimate(samples(zoomed))
    assert peak > 0
    # One estimate moves most of the way (the window over scales pulls it towards 1) ...
    assert abs(factor - change) <= 0.35 * abs(change - 1.0) + 0.005
    # ... and re-estimating at the new size, as the tracker does frame after frame, converges.
    size = factor
    for _ in range(4):
        size *= sf.estimate(samples(zoomed, size))[0]
    assert size == pytest.approx(change, abs=0.01)
