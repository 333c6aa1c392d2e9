"""``cftrack track`` for several targets, parts of a video, other formats and odd outputs."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from cftrack_cli import MultiTracker, create_tracker, open_frames
from cftrack_cli.trackers.session import track_frames
from test_track_cli import box_arg, count_video_frames, read_csv, run_cli

#: A second target in the synthetic clip: a patch of its (static) background.
PATCH = (100.0, 70.0, 30.0, 30.0)


def mot_rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.strip().splitlines()]


def test_two_targets_give_exactly_the_rows_of_two_single_runs(tmp_path, square_video):
    """The issue's command: ids 1 and 2, one row per frame and target, both in the video."""
    video, boxes = square_video
    out = tmp_path / "out"
    both = run_cli(
        "track", str(video), "--box", box_arg(boxes[0]), "--box", box_arg(PATCH),
        "--format", "mot", "--csv", "-", "--video", "-o", str(out), "-q",
    )  # fmt: skip
    assert both.returncode == 0, both.stderr
    rows = mot_rows(both.stdout)
    assert len(rows) == 2 * 40
    assert [r[1] for r in rows] == ["1", "2"] * 40
    assert [int(r[0]) for r in rows[::2]] == list(range(1, 41))  # MOT frames count from 1
    assert all(r[7:] == ["-1", "-1", "-1"] for r in rows)
    for target_id, first_box in ((1, boxes[0]), (2, PATCH)):
        alone = run_cli(
            "track", str(video), "--box", box_arg(first_box), "--format", "mot", "--csv", "-", "-q"
        )  # fmt: skip
        assert alone.returncode == 0, alone.stderr
        single = mot_rows(alone.stdout)
        mine = [r for r in rows if r[1] == str(target_id)]
        # Identical rows, the id aside (a target alone is target 1).
        assert [r[:1] + r[2:] for r in mine] == [r[:1] + r[2:] for r in single]
    # The video shows both targets, each in its own colour (green, then sky blue).
    assert count_video_frames(out / "annotated.mp4") == 40
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    frame = cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB).astype(int)
    x, y, w, _ = (round(v) for v in boxes[0])
    assert np.abs(frame[y, x + 4 : x + w - 4].mean(axis=0) - (0, 220, 0)).max() < 60
    x, y, w, _ = (round(v) for v in PATCH)
    assert np.abs(frame[y, x + 4 : x + w - 4].mean(axis=0) - (0, 170, 255)).max() < 60


def test_several_targets_add_an_id_column_to_the_csv(tmp_path, square_video):
    video, boxes = square_video
    result = run_cli(
        "track", str(video), "-b", box_arg(boxes[0]), "-b", box_arg(PATCH), "-t", "dcf",
        "--csv", "-", "--max-frames", "3", "-q",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "frame,id,x,y,w,h,score,lost"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        [str(f), str(i)] for f in range(3) for i in (1, 2)
    ]
    assert lines[2].split(",")[2:6] == ["100.00", "70.00", "30.00", "30.00"]


@pytest.mark.parametrize("kind", ["video", "folder"])
def test_start_and_end_frame_keep_the_videos_frame_numbers(
    tmp_path, square_video, square_folder, kind
):
    source, boxes = square_video if kind == "video" else square_folder
    result = run_cli(
        "track", str(source), "-b", box_arg(boxes[10]), "-t", "dcf",
        "--start-frame", "10", "--end-frame", "19", "--csv", "-", "-q",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = read_csv(result.stdout)
    np.testing.assert_array_equal(rows[:, 0], np.arange(10, 20))
    np.testing.assert_allclose(rows[0, 1:5], boxes[10])
    # The same as tracking the frames 10..19 from scratch.
    with open_frames(str(source)) as frames:
        clip = list(frames)[10:20]
    expected = [tuple(s.result.box) for s in track_frames(create_tracker("dcf"), clip, boxes[10])]
    np.testing.assert_allclose(rows[:, 1:5], expected, atol=0.006)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--start-frame", "40"], "has no frame 40"),
        (["--start-frame", "5", "--end-frame", "4"], "comes before"),
    ],
)
def test_a_frame_range_outside_the_video_is_one_line(tmp_path, square_video, args, fragment):
    video, boxes = square_video
    out = tmp_path / "out"
    result = run_cli("track", str(video), "-b", box_arg(boxes[0]), *args, "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert fragment in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_jsonl_rows_carry_every_field(tmp_path, square_video):
    video, boxes = square_video
    result = run_cli(
        "track", str(video), "-b", box_arg(boxes[0]), "-t", "dcf", "--format", "jsonl",
        "--csv", "-", "--max-frames", "4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]  # stdout: JSON only
    assert [r["frame"] for r in rows] == [0, 1, 2, 3]
    assert set(rows[0]) == {"frame", "id", "x", "y", "w", "h", "score", "lost"}
    assert rows[0] == {
        "frame": 0, "id": 1, "x": 20.0, "y": 20.0, "w": 28.0, "h": 28.0, "score": 1.0,
        "lost": False,
    }  # fmt: skip
    assert "tracked 4 frames" in result.stderr


def test_jsonl_and_mot_files_get_their_own_names(tmp_path, square_video):
    video, boxes = square_video
    for fmt, name in (("jsonl", "boxes.jsonl"), ("mot", "boxes.txt")):
        out = tmp_path / fmt
        result = run_cli(
            "track", str(video), "-b", box_arg(boxes[0]), "-t", "dcf", "--format", fmt,
            "--max-frames", "3", "--no-video", "-o", str(out), "-q",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert [p.name for p in out.iterdir()] == [name]
        assert len((out / name).read_text().splitlines()) == 3


def test_box_files_with_ids_and_a_restart_from_mot_output(tmp_path, square_video):
    video, boxes = square_video
    ids = tmp_path / "targets.txt"  # id,x,y,w,h, 1-based pixels like every box file by default
    ids.write_text(f"7,{boxes[0][0] + 1},{boxes[0][1] + 1},28,28\n9,101,71,30,30\n")
    first = run_cli(
        "track", str(video), "--box-file", str(ids), "-t", "dcf", "--format", "mot",
        "--csv", str(tmp_path / "run.txt"), "--no-video", "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    rows = mot_rows((tmp_path / "run.txt").read_text())
    assert [r[1] for r in rows[:2]] == ["7", "9"]
    assert rows[1][2:6] == ["101.00", "71.00", "30.00", "30.00"]
    # Its own output, read back as MOTChallenge rows, restarts both targets at frame 25.
    again = run_cli(
        "track", str(video), "--box-file", str(tmp_path / "run.txt"), "-t", "dcf",
        "--start-frame", "25", "--max-frames", "2", "--csv", "-", "-q",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert lines[0] == "frame,id,x,y,w,h,score,lost"
    restart = [line.split(",") for line in lines[1:3]]
    at_25 = [r for r in rows if r[0] == "26"]
    for mine, before in zip(restart, at_25, strict=True):
        assert mine[:2] == ["25", before[1]]
        np.testing.assert_allclose(
            [float(v) for v in mine[2:6]],
            [float(before[2]) - 1, float(before[3]) - 1, float(before[4]), float(before[5])],
            atol=1e-9,
        )


def test_multi_tracker_api(square_clip):
    frames, boxes = square_clip
    tracks = MultiTracker.create("dcf", ids=[3, 5])
    tracks.init(frames[0], {5: PATCH, 3: boxes[0]})
    results = tracks.update(frames[1])
    assert list(results) == [3, 5]
    alone = create_tracker("dcf")
    alone.init(frames[0], boxes[0])
    assert alone.update(frames[1]) == results[3]
    with pytest.raises(ValueError, match="one box per target"):
        tracks.init(frames[0], [boxes[0]])


# -- outputs that are not regular files ----------------------------------------------------------


def _drain(path: Path, into: list[bytes]) -> threading.Thread:
    """A reader for a named pipe (opening it for writing waits for one)."""
    reader = threading.Thread(target=lambda: into.append(path.read_bytes()), daemon=True)
    reader.start()
    return reader


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_named_pipe_is_written_to_never_replaced(tmp_path, square_video, overwrite):
    video, boxes = square_video
    fifo = tmp_path / "boxes.csv"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = _drain(fifo, received)
    result = run_cli(
        "track", str(video), "-b", box_arg(boxes[0]), "-t", "dcf", "--csv", str(fifo),
        "--no-video", "--max-frames", "5", "-q", *(["--overwrite"] if overwrite else []),
    )  # fmt: skip
    reader.join(30)
    assert result.returncode == 0, result.stderr
    assert fifo.is_fifo()
    assert read_csv(received[0].decode()).shape == (5, 7)
    assert [p.name for p in tmp_path.iterdir()] == ["square.avi", "boxes.csv"]


def _device_node(path: Path) -> Path:
    """A character device like /dev/null (1, 3), made in a test folder; skip where not allowed."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here ({exc})")
    return path


def test_a_device_node_is_written_to_never_replaced(tmp_path, square_video):
    video, boxes = square_video
    node = _device_node(tmp_path / "null")
    result = run_cli(
        "track", str(video), "-b", box_arg(boxes[0]), "-t", "dcf", "--csv", str(node),
        "--no-video", "--max-frames", "5", "-q", "--overwrite",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(node.stat().st_mode)
    assert node.stat().st_rdev == os.makedev(1, 3)
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_an_annotated_video_path_that_is_a_stream(tmp_path, square_video, kind):
    video, boxes = square_video
    out = tmp_path / "out"
    out.mkdir()
    target = out / "annotated.mp4"
    received: list[bytes] = []
    if kind == "fifo":
        os.mkfifo(target)
        reader = _drain(target, received)
    else:
        _device_node(target)
    result = run_cli(
        "track", str(video), "-b", box_arg(boxes[0]), "-t", "dcf", "-o", str(out),
        "--max-frames", "5", "-q", "--overwrite",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_csv((out / "boxes.csv").read_text()).shape == (5, 7)
    if kind == "fifo":
        reader.join(30)
        assert target.is_fifo()
        assert received[0][4:8] == b"ftyp"  # an mp4, fragmented so a pipe can carry it
        playable = tmp_path / "copy.mp4"
        playable.write_bytes(received[0])
        assert count_video_frames(playable) == 5
    else:
        assert stat.S_ISCHR(target.stat().st_mode)
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4", "boxes.csv"]


def test_csv_to_stdout_writes_no_video_unless_asked(tmp_path, square_video):
    video, boxes = square_video
    out = tmp_path / "out"
    out.mkdir()
    (out / "annotated.mp4").write_bytes(b"an earlier run's video")
    args = ["track", str(video), "-b", box_arg(boxes[0]), "-t", "dcf", "--csv", "-"]
    quiet = run_cli(*args, "-o", str(out), "--max-frames", "3", "-q")
    assert quiet.returncode == 0, quiet.stderr  # no clash with the earlier video
    assert (out / "annotated.mp4").read_bytes() == b"an earlier run's video"
    asked = run_cli(*args, "-o", str(out), "--max-frames", "3", "--video")
    assert asked.returncode == 2
    assert "annotated.mp4: already exists" in asked.stderr
    fresh = run_cli(*args, "-o", str(tmp_path / "new"), "--max-frames", "3", "--video", "-q")
    assert fresh.returncode == 0, fresh.stderr
    assert count_video_frames(tmp_path / "new" / "annotated.mp4") == 3


# -- odd boxes, version, camera ------------------------------------------------------------------


def test_corner_like_and_repeated_boxes_warn_and_track_as_given(tmp_path, square_video):
    video, _ = square_video
    corners = "20,20,48,110"  # runs past the 160x120 frame; as corners it would fit
    wide = "100,60,90,70"  # runs past the frame too, but x2 < x1: not corners
    result = run_cli(
        "track", str(video), "-b", corners, "-b", box_arg(PATCH), "-b", box_arg(PATCH),
        "-b", wide, "-t", "dcf", "--csv", "-", "--max-frames", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2, result.stderr
    assert "target 1: box 20,20,48,110 runs past the 160x120 frame (to 68,130)" in warnings[0]
    assert "--box 20,20,28,90" in warnings[0]
    assert "targets 2 and 3 have the same box 100,70,30,30" in warnings[1]
    rows = result.stdout.splitlines()
    assert rows[1].split(",")[2:6] == ["20.00", "20.00", "48.00", "110.00"]  # as given
    assert len(rows) == 1 + 2 * 4
    inside = run_cli("track", str(video), "-b", "20,20,48,48", "-t", "dcf", "--csv", "-", "-q")
    assert inside.returncode == 0
    assert inside.stderr == ""  # inside the frame: nothing odd


def test_version():
    from cftrack_cli import __version__

    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout == f"cftrack {__version__}\n"


def test_a_camera_that_cannot_be_opened_is_one_line():
    result = run_cli("track", "99", "--box", "1,1,5,5")
    assert result.returncode == 2
    assert result.stderr.strip() == "cftrack: error: camera 99 could not be opened"
