"""Frame sources: every input kind comes out as RGB uint8, bad inputs as one clear error."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from cftrack_cli.errors import CftrackError, UsageError
from cftrack_cli.io.frames import ImageFolderSource, natural_key, open_frames, to_rgb8
from synthetic import write_video


def test_video_file_frames_are_rgb_uint8(square_video, square_clip):
    path, _ = square_video
    frames, _ = square_clip
    with open_frames(path) as source:
        got = list(source)
        assert source.fps == pytest.approx(25.0)
        assert source.name == "square"
    assert len(got) == len(frames)
    assert all(f.dtype == np.uint8 and f.shape == (120, 160, 3) for f in got)
    # MJPG is lossy; the colours must still be in RGB order (a BGR mix-up is off by ~100).
    assert np.abs(got[0].astype(int) - frames[0].astype(int)).mean() < 12


def test_image_folder_in_natural_order(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in (1, 2, 10):  # "10" sorts before "2" as text
        img = np.full((8, 8, 3), i, dtype=np.uint8)
        cv2.imwrite(str(folder / f"f{i}.png"), img)
    source = open_frames(folder)
    assert [int(f[0, 0, 0]) for f in source] == [1, 2, 10]
    assert source.frame_count == 3


def test_otb_folder_uses_img_subfolder(tmp_path):
    (tmp_path / "Seq" / "img").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "Seq" / "img" / "0001.jpg"), np.zeros((10, 12, 3), np.uint8))
    source = open_frames(tmp_path / "Seq")
    assert isinstance(source, ImageFolderSource)
    assert source.name == "Seq"
    assert next(iter(source)).shape == (10, 12, 3)


@pytest.mark.parametrize(
    "image",
    [
        np.full((6, 7), 200, np.uint8),  # grey
        np.full((6, 7, 4), 200, np.uint8),  # BGRA
        np.full((6, 7, 3), 200 * 257, np.uint16),  # 16-bit
        np.full((6, 7), 200 * 257, np.uint16),  # 16-bit grey
    ],
)
def test_grey_rgba_and_16bit_images_become_rgb8(tmp_path, image):
    cv2.imwrite(str(tmp_path / "a.png"), image)
    frame = next(iter(open_frames(tmp_path)))
    assert frame.dtype == np.uint8 and frame.shape == (6, 7, 3)
    assert int(frame[0, 0, 0]) == 200


def test_to_rgb8_swaps_bgr():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    assert to_rgb8(bgr)[0, 0].tolist() == [0, 0, 255]


def test_natural_key():
    names = ["img10.jpg", "img2.jpg", "img1.jpg"]
    assert sorted(names, key=natural_key) == ["img1.jpg", "img2.jpg", "img10.jpg"]


def test_missing_input(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        open_frames(tmp_path / "nothing.mp4")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(UsageError, match="empty"):
        open_frames(path)


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(UsageError, match="video"):
        open_frames(path)


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(UsageError, match="no images"):
        open_frames(tmp_path)


def test_single_image_is_refused_with_advice(tmp_path):
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(UsageError, match="single image"):
        open_frames(tmp_path / "one.png")


def test_folder_with_mixed_sizes_stops_with_the_file_named(tmp_path):
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((4, 4, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "2.png"), np.zeros((5, 4, 3), np.uint8))
    with pytest.raises(CftrackError, match=r"2\.png"):
        list(open_frames(tmp_path))


def test_corrupt_image_in_folder(tmp_path):
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "2.png").write_bytes(b"garbage")
    with pytest.raises(CftrackError, match=r"2\.png"):
        list(open_frames(tmp_path))


def test_one_frame_video(tmp_path):
    path = write_video(tmp_path / "one.avi", [np.zeros((16, 16, 3), np.uint8)])
    assert len(list(open_frames(path))) == 1


def test_camera_index_that_does_not_exist():
    with pytest.raises(UsageError, match="camera"):
        open_frames("97")


def test_path_like_accepted(square_video):
    path, _ = square_video
    assert isinstance(path, Path)
    with open_frames(str(path)) as source:
        assert source.frame_count == 40
