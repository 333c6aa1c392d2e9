"""Distillation pairs: sources found in any mix, known displacements, the same pairs per seed."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from cftrack_cli.distill.data import (
    BoxedSequence,
    ImageSet,
    PairParams,
    Video,
    describe_sources,
    discover_sources,
    sample_pairs,
)
from cftrack_cli.errors import UsageError
from synthetic import moving_square_frames, write_image_folder, write_video


def _texture(seed: int, size=(240, 320)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (*size, 3)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 2.0).clip(0, 255).astype(np.uint8)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    images = root / "images"
    images.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), _texture(i))
    frames, boxes = moving_square_frames(n=12, size=(160, 120))
    write_video(root / "videos" / "clip.avi", frames) if (root / "videos").mkdir() is None else None
    seq = root / "sequences" / "square"
    write_image_folder(seq / "img", frames, ext=".jpg")
    (seq / "groundtruth_rect.txt").write_text(
        "\n".join(f"{x + 1},{y + 1},{w},{h}" for x, y, w, h in boxes) + "\n"
    )
    return root


def test_discovers_images_videos_and_sequences(corpus):
    sources = discover_sources([corpus])
    kinds = sorted(type(s).__name__ for s in sources)
    assert kinds == ["BoxedSequence", "ImageSet", "Video"]
    counts = describe_sources(sources)
    assert counts["images"] == 3 and counts["video_frames"] == 12
    assert counts["sequence_frames_with_boxes"] == 12
    seq = next(s for s in sources if isinstance(s, BoxedSequence))
    assert seq.boxes[0][:2].tolist() == [20.0, 20.0]  # OTB file read 1-based


def test_nothing_to_learn_from(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(UsageError, match="no images"):
        discover_sources([tmp_path])
    with pytest.raises(UsageError, match="no such"):
        discover_sources([tmp_path / "missing"])


def test_same_seed_same_pairs(corpus):
    sources = discover_sources([corpus])
    a = sample_pairs(sources, 10, PairParams(crop_size=64), seed=3)
    b = sample_pairs(sources, 10, PairParams(crop_size=64), seed=3)
    c = sample_pairs(sources, 10, PairParams(crop_size=64), seed=4)
    np.testing.assert_array_equal(a.search, b.search)
    np.testing.assert_array_equal(a.shift, b.shift)
    assert not np.array_equal(a.shift, c.shift)
    assert a.template.shape == (10, 64, 64, 3) and a.template.dtype == np.uint8


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_shift_says_where_the_template_centre_went(tmp_path, flip):
    """Phase correlation of each pair recovers the recorded displacement (no scale, no jitter)."""
    cv2.imwrite(str(tmp_path / "t.png"), _texture(7, size=(400, 400)))
    sources = [ImageSet((tmp_path / "t.png",))]
    params = PairParams(
        crop_size=96, max_log_scale=0.0, colour=0.0, blur=0.0, flip=flip, max_shift=0.15
    )
    pairs = sample_pairs(sources, 6, params, seed=0)
    for template, search, (dy, dx) in zip(pairs.template, pairs.search, pairs.shift, strict=True):
        (sx, sy), _ = cv2.phaseCorrelate(
            cv2.cvtColor(template, cv2.COLOR_RGB2GRAY).astype(np.float64),
            cv2.cvtColor(search, cv2.COLOR_RGB2GRAY).astype(np.float64),
        )
        assert sx == pytest.approx(dx, abs=1.0)
        assert sy == pytest.approx(dy, abs=1.0)


def test_video_source_skips_undecodable_tail(tmp_path):
    frames, _ = moving_square_frames(n=5)
    path = write_video(tmp_path / "v.avi", frames)
    (source,) = discover_sources([path])
    assert isinstance(source, Video) and source.frames == 5
