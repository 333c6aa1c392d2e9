"""The ``eco-hc`` tracker end to end: synthetic clips, sub-pixel shifts, lost targets, layers."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from cftrack_cli.boxes import Box, iou
from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.handcrafted import Grayscale
from cftrack_cli.trackers import create_tracker, tracker_names
from cftrack_cli.trackers.eco import ECOParams, ECOTracker, FeatureLayer
from conftest import shared_path
from synthetic import moving_square_frames


def _scene(seed: int = 0, size: tuple[int, int] = (240, 200)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    noise = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


def _shift(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(
        image, m, image.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )


def test_registered():
    assert "eco-hc" in tracker_names()
    tracker = create_tracker("eco-hc")
    assert isinstance(tracker, ECOTracker)


@pytest.mark.parametrize(("dx", "dy"), [(0.0, 0.0), (2.3, -1.6), (-4.7, 3.4), (7.5, 6.2)])
def test_subpixel_translation_is_localised_within_half_a_pixel(dx, dy):
    frame = _scene()
    box = Box(96.0, 80.0, 40.0, 36.0)
    tracker = ECOTracker()
    tracker.init(frame, box)
    result = tracker.update(_shift(frame, dx, dy))
    cx, cy = result.box.center
    assert abs(cx - (box.center[0] + dx)) < 0.5
    assert abs(cy - (box.center[1] + dy)) < 0.5
    assert result.box.w == pytest.approx(box.w, rel=0.03)
    assert result.score > 0.3 and not result.lost


def test_follows_a_moving_square():
    frames, boxes = moving_square_frames(n=40, size=(160, 120))
    tracker = ECOTracker()
    tracker.init(frames[0], Box(*boxes[0]))
    overlaps = [
        iou(tracker.update(f).box, Box(*b)) for f, b in zip(frames[1:], boxes[1:], strict=True)
    ]
    assert np.mean(overlaps) > 0.7
    assert min(overlaps) > 0.5


def _vanishing_clip(n_visible: int = 20, n_gone: int = 15):
    frames, boxes = moving_square_frames(n=n_visible + n_gone, size=(160, 120))
    rng = np.random.default_rng(5)
    background = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (0, 0), 3)
    for i in range(n_visible, len(frames)):
        noise = rng.normal(0, 4, background.shape)
        frames[i] = np.clip(background + noise, 0, 255).astype(np.uint8)  # square gone
    return frames, boxes, n_visible


def test_confidence_drops_and_lost_is_flagged_when_the_target_disappears():
    frames, boxes, n_visible = _vanishing_clip()
    tracker = ECOTracker()
    tracker.init(frames[0], Box(*boxes[0]))
    results = [tracker.update(f) for f in frames[1:]]
    visible = [r.score for r in results[: n_visible - 1]]
    gone = [r.score for r in results[n_visible - 1 :]]
    assert min(visible) > 0.3
    assert max(gone) < 0.5 * np.median(visible)
    assert not any(r.lost for r in results[: n_visible - 1])
    assert np.mean([r.lost for r in results[n_visible - 1 :]]) > 0.8


def test_grayscale_frames_use_the_grey_layers():
    frames, boxes = moving_square_frames(n=15, size=(160, 120))
    grey = [np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2) for f in frames]
    tracker = ECOTracker()
    tracker.init(grey[0], Box(*boxes[0]))
    assert [type(e).__name__ for e in tracker.stage.extractors] == ["FHOG", "Grayscale"]
    overlaps = [
        iou(tracker.update(f).box, Box(*b)) for f, b in zip(grey[1:], boxes[1:], strict=True)
    ]
    assert np.mean(overlaps) > 0.6


class _PooledIntensity(FeatureExtractor):
    """A stand-in for a CNN layer: 8 channels at an 8-pixel stride."""

    def __init__(self, cell_size: int) -> None:
        self._cell = cell_size
        self._grey = Grayscale(cell_size)

    @property
    def dim(self) -> int:
        return 8

    @property
    def cell_size(self) -> int:
        return self._cell

    def extract(self, patches: np.ndarray) -> np.ndarray:
        g = self._grey.extract(patches)
        return np.concatenate([np.sin(g * k) for k in range(1, 9)], axis=1).astype(np.float32)


def test_extra_layers_at_other_strides_plug_in():
    params = ECOParams(
        layers=(*ECOParams().layers, FeatureLayer(_PooledIntensity, cell_size=8, compressed_dim=4))
    )
    frames, boxes = moving_square_frames(n=12, size=(160, 120))
    tracker = ECOTracker(params)
    tracker.init(frames[0], Box(*boxes[0]))
    assert tracker.target.sample_px[0] % 24 == 0  # every layer tiles the sample exactly
    assert [p.shape for p in tracker.learner.filter.projections] == [(31, 10), (10, 3), (8, 4)]
    overlaps = [
        iou(tracker.update(f).box, Box(*b)) for f, b in zip(frames[1:], boxes[1:], strict=True)
    ]
    assert np.mean(overlaps) > 0.6
    assert set(tracker.timer.seconds) >= {"crop", "features", "fft", "detect", "scale", "learn"}


class _OffsetIntensity(_PooledIntensity):
    offset = 2.5  # receptive-field centres 2.5 px right/below the cell centres (a CNN's)


def test_a_layer_offset_moves_that_layer_on_the_continuous_domain():
    frames, boxes = moving_square_frames(n=2, size=(160, 120))
    spectra = []
    for extractor in (_PooledIntensity, _OffsetIntensity):
        params = ECOParams(layers=(FeatureLayer(extractor, cell_size=8, compressed_dim=4),))
        tracker = ECOTracker(params)
        tracker.init(frames[0], Box(*boxes[0]))
        (feats,) = tracker.stage.maps(frames[1], [tracker.target])
        spectra.append(tracker.stage.spectra(feats)[0])
    plain, moved = spectra
    period = float(tracker.target.sample_px[0])
    ky = np.arange(plain.shape[-2]) - plain.shape[-2] // 2
    kx = np.arange(plain.shape[-1])
    phase = np.exp(-2j * np.pi * (ky[:, None] + kx[None, :]) * 2.5 / period)
    np.testing.assert_allclose(moved, plain * phase, rtol=1e-4, atol=1e-6)


def test_bad_layer_specs_are_refused():
    with pytest.raises(ValueError, match="unknown feature"):
        FeatureLayer("sift", 4, 4).build()
    with pytest.raises(ValueError, match="frames"):
        FeatureLayer("fhog", 4, 4, frames="colour")
    only_grey = replace(ECOParams(), layers=(FeatureLayer("grayscale", 4, 1, frames="gray"),))
    frames, boxes = moving_square_frames(n=2)
    with pytest.raises(ValueError, match="no feature layer"):
        ECOTracker(only_grey).init(frames[0], Box(*boxes[0]))


@pytest.mark.shared
@pytest.mark.slow
def test_follows_a_real_sequence():
    from cftrack_cli.io.annotations import read_boxes
    from cftrack_cli.io.frames import open_frames

    seq = shared_path("data", "sequences", "Crossing")
    gt = read_boxes(seq / "groundtruth_rect.txt")
    tracker = ECOTracker()
    overlaps, scores = [], []
    with open_frames(seq) as source:
        for i, frame in enumerate(source):
            if i == 0:
                tracker.init(frame, Box(*gt[0]))
                continue
            result = tracker.update(frame)
            overlaps.append(iou(result.box, Box(*gt[i])))
            scores.append(result.score)
            if i == 80:
                break
    assert np.mean(overlaps) > 0.6
    assert np.mean(scores) > 0.2


def _morphing_clip(n_a: int = 15, n_morph: int = 20, n_b: int = 40, seed: int = 3):
    """A still scene (a textured square on a textured background) that turns, over
    ``n_morph`` frames, into another one of the same kind, which then stays: what the tracker
    sees when it has slid onto another object and learnt it."""
    rng = np.random.default_rng(seed)

    def scene() -> np.ndarray:
        image = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (0, 0), 3)
        image[40:68, 60:88] = rng.integers(0, 255, (28, 28, 3), dtype=np.uint8)
        return image.astype(np.float64)

    a, b = scene(), scene()
    frames = []
    for i in range(n_a + n_morph + n_b):
        t = min(max(i - n_a, 0) / n_morph, 1.0)
        frame = (1 - t) * a + t * b + rng.normal(0, 4, a.shape)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames, Box(60.0, 40.0, 28.0, 28.0), n_b


def test_anchored_confidence_falls_once_the_filter_has_learnt_another_object():
    """The filter adapts to the new object, so its own score recovers; the first frame's
    filter does not know it, so the anchored confidence stays well below."""
    frames, box, n_b = _morphing_clip()
    runs = {}
    for anchored in (False, True):
        tracker = ECOTracker(replace(ECOParams(), anchored_confidence=anchored))
        tracker.init(frames[0], box)
        runs[anchored] = [tracker.update(f).score for f in frames[1:]]
    # Same object as on the first frame: the two agree.
    np.testing.assert_allclose(runs[True][:10], runs[False][:10], atol=0.02)
    plain, anchored = np.median(runs[False][-n_b // 2 :]), np.median(runs[True][-n_b // 2 :])
    assert plain > 0.4
    assert anchored < 0.75 * plain


def test_frames_flagged_lost_teach_nothing_when_frozen():
    """With ``freeze_when_lost`` neither the filter nor the scale filter learns from a frame
    flagged lost; every other frame teaches both."""
    frames, boxes, _ = _vanishing_clip(n_visible=20, n_gone=15)

    def counted(update, name: str, taught: list[str]):
        def wrapper(*args):
            taught.append(name)
            return update(*args)

        return wrapper

    for freeze in (False, True):
        tracker = ECOTracker(replace(ECOParams(), freeze_when_lost=freeze))
        tracker.init(frames[0], Box(*boxes[0]))
        taught: list[str] = []
        tracker.learner.update = counted(tracker.learner.update, "filter", taught)
        tracker._scaler.update = counted(tracker._scaler.update, "scale", taught)
        results = [tracker.update(f) for f in frames[1:]]
        lost = sum(r.lost for r in results)
        assert lost > 10
        expected = len(results) - lost if freeze else len(results)
        assert taught.count("filter") == taught.count("scale") == expected


def _reappearing_clip(jump: int = 40):
    """A square that moves, is hidden for 6 frames and comes back ``jump`` px to the right of
    where it would be: out of the sample's reach from where a lost box drifts to."""
    frames, boxes = moving_square_frames(n=50, size=(320, 160), step=(1.0, 0.0), seed=3)
    rng = np.random.default_rng(7)
    background = frames[0].copy()
    x0, y0, w, h = (int(v) for v in boxes[0])
    background[y0 : y0 + h, x0 : x0 + w] = background[y0 : y0 + h, x0 + w + 40 : x0 + 2 * w + 40]
    for i in range(20, 50):
        frame = background.astype(np.float64)
        boxes[i, 0] += jump if i >= 26 else 0
        if i >= 26:
            x, y = int(boxes[i, 0]), int(boxes[i, 1])
            frame[y : y + h, x : x + w] = frames[0][y0 : y0 + h, x0 : x0 + w]
        frames[i] = np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)
    return frames, boxes


def test_redetect_finds_a_target_that_comes_back_out_of_reach():
    frames, boxes = _reappearing_clip()
    overlaps = {}
    for redetect in (False, True):
        tracker = ECOTracker(replace(ECOParams(), redetect=redetect))
        tracker.init(frames[0], Box(*boxes[0]))
        results = [tracker.update(f) for f in frames[1:]]
        overlaps[redetect] = [iou(r.box, Box(*b)) for r, b in zip(results, boxes[1:], strict=True)]
        assert any(r.lost for r in results[19:25])  # hidden: flagged lost either way
    assert min(overlaps[True][:19]) > 0.5 and min(overlaps[False][:19]) > 0.5
    assert np.mean(overlaps[False][-15:]) < 0.1  # left where the target was last seen
    assert np.mean(overlaps[True][-15:]) > 0.6  # found again


def test_redetect_searches_only_on_lost_frames_and_as_often_as_asked():
    frames, boxes = _reappearing_clip(jump=0)
    for every in (1, 4):
        tracker = ECOTracker(replace(ECOParams(), redetect=True, redetect_every=every))
        tracker.init(frames[0], Box(*boxes[0]))
        calls: list[int] = []
        search = tracker._redetect
        tracker._redetect = lambda frame, search=search, calls=calls: (
            calls.append(1) or search(frame)
        )
        results = [tracker.update(f) for f in frames[1:]]
        runs, run = [], 0
        for r in results:  # the lengths of the runs of lost frames
            run = run + 1 if r.lost else 0
            if r.lost:
                runs.append(run)
        assert runs, "the hidden target is flagged lost"
        assert len(calls) == sum(1 for k in runs if k % every == 0)


def test_redetect_every_must_be_at_least_one():
    from cftrack_cli.trackers.strcf import STRCFParams

    for params in (ECOParams, STRCFParams):
        with pytest.raises(ValueError, match="redetect_every must be at least 1"):
            params(redetect_every=0)
