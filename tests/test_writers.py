"""Outputs appear under their final names only when complete."""

import cv2
import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.io.writers import AnnotatedVideoWriter, TrackTableWriter, draw_box


def test_csv_is_partial_until_closed(tmp_path):
    path = tmp_path / "boxes.csv"
    writer = TrackTableWriter(path)
    writer.write(0, Box(1, 2, 3, 4), 1.0)
    assert not path.exists()
    partial = list(tmp_path.glob(".boxes.partial*"))
    assert len(partial) == 1
    assert partial[0].read_text().splitlines()[1] == "0,1.00,2.00,3.00,4.00,1.0000,0"  # flushed
    writer.close()
    assert path.read_text().splitlines() == [
        "frame,x,y,w,h,score,lost",
        "0,1.00,2.00,3.00,4.00,1.0000,0",
    ]
    assert not list(tmp_path.glob(".*partial*"))


def test_csv_abort_leaves_nothing(tmp_path):
    writer = TrackTableWriter(tmp_path / "boxes.csv")
    writer.write(0, Box(1, 2, 3, 4), 1.0)
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_csv_to_stdout(capsys):
    writer = TrackTableWriter(None)
    writer.write(3, Box(1, 2, 3, 4), 0.5, lost=True)
    writer.close()
    assert capsys.readouterr().out == "frame,x,y,w,h,score,lost\n3,1.00,2.00,3.00,4.00,0.5000,1\n"


def test_video_with_odd_size_is_playable(tmp_path):
    path = tmp_path / "out.mp4"
    writer = AnnotatedVideoWriter(path, fps=12.5)
    rng = np.random.default_rng(0)
    for _ in range(7):
        writer.write(rng.integers(0, 255, (51, 67, 3), dtype=np.uint8))
    assert not path.exists()
    writer.close()
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 7
    assert cap.get(cv2.CAP_PROP_FPS) == 12.5
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (
        68,
        52,
    )


def test_video_abort_leaves_nothing(tmp_path):
    writer = AnnotatedVideoWriter(tmp_path / "out.mp4", fps=None)
    writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_draw_box_marks_the_box_and_keeps_the_input():
    frame = np.zeros((120, 160, 3), np.uint8)
    out = draw_box(frame, Box(40, 50, 30, 20), 0.9, 7)
    assert frame.max() == 0  # input untouched
    assert out[50, 55].any() and out[70, 55].any()  # top and bottom edges drawn
    assert not out[60, 55].any()  # inside stays


def test_lost_frames_are_drawn_red():
    frame = np.zeros((120, 160, 3), np.uint8)
    tracked = draw_box(frame, Box(40, 50, 30, 20), 0.9, 7)
    lost = draw_box(frame, Box(40, 50, 30, 20), 0.05, 8, lost=True)
    assert tracked[50, 55, 1] > 200 and tracked[50, 55, 0] < 50  # green
    assert lost[50, 55, 0] > 200 and lost[50, 55, 1] < 100  # red
