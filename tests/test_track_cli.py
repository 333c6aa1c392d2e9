"""``cftrack track`` end to end: outputs, pipelines, bad input, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cftrack_cli.boxes import Box, iou
from cftrack_cli.cli import app
from cftrack_cli.threads import library_threads
from conftest import shared_path
from synthetic import moving_square_frames, write_video

SRC = Path(__file__).resolve().parents[1] / "src"


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-m", "cftrack_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def read_csv(text: str) -> np.ndarray:
    lines = text.strip().splitlines()
    assert lines[0] == "frame,x,y,w,h,score,lost"
    return np.array([[float(v) for v in line.split(",")] for line in lines[1:]])


def count_video_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def box_arg(box) -> str:
    return ",".join(str(v) for v in box)


def test_track_writes_csv_and_video(tmp_path, square_video):
    video, boxes = square_video
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["track", str(video), "--box", box_arg(boxes[0]), "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    rows = read_csv((out / "boxes.csv").read_text())
    assert rows.shape == (40, 7)
    np.testing.assert_array_equal(rows[:, 0], np.arange(40))
    assert count_video_frames(out / "annotated.mp4") == 40
    ious = [iou(Box(*r[1:5]), Box(*b)) for r, b in zip(rows, boxes, strict=True)]
    assert np.mean(ious) > 0.6  # the square really is followed
    assert not list(out.glob(".*partial*"))


def test_csv_to_stdout_carries_only_csv(tmp_path, square_video):
    video, boxes = square_video
    result = run_cli(
        "track", str(video), "--box", box_arg(boxes[0]), "--csv", "-", "--no-video",
        "-o", str(tmp_path / "unused"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_csv(result.stdout).shape == (40, 7)
    assert "tracked 40 frames" in result.stderr
    assert not (tmp_path / "unused").exists()


def test_max_frames_and_image_folder(tmp_path, square_folder):
    folder, boxes = square_folder
    out = tmp_path / "o"
    result = CliRunner().invoke(
        app,
        ["track", str(folder), "--box", box_arg(boxes[0]), "-o", str(out), "--max-frames", "9"],
    )
    assert result.exit_code == 0, result.output
    assert read_csv((out / "boxes.csv").read_text()).shape == (9, 7)
    assert count_video_frames(out / "annotated.mp4") == 9


def test_box_file_first_row_is_one_based(tmp_path, square_video):
    video, boxes = square_video
    gt = tmp_path / "gt.txt"
    gt.write_text("\n".join(",".join(str(v + (1 if i < 2 else 0)) for i, v in enumerate(b))
                            for b in boxes))  # fmt: skip
    result = CliRunner().invoke(
        app, ["track", str(video), "--box-file", str(gt), "--csv", "-", "--no-video", "-q"]
    )
    assert result.exit_code == 0, result.output
    first = read_csv(result.stdout)[0]
    np.testing.assert_allclose(first[1:5], boxes[0])


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["--box", "1,2,3"], 2, "4 numbers"),
        (["--box", "1,2,nan,4"], 2, "finite"),
        (["--box", "1,2,0,4"], 2, "positive"),
        (["--box", "500,500,10,10"], 2, "outside"),
        ([], 2, "--box"),
        (["--box", "1,1,5,5", "--tracker", "nope"], 2, "unknown tracker"),
    ],
)
def test_bad_arguments_give_one_line(tmp_path, square_video, args, code, fragment):
    video, _ = square_video
    result = run_cli("track", str(video), *args, "-o", str(tmp_path / "o"))
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "o").glob("*")) if (tmp_path / "o").exists() else True


@pytest.mark.parametrize("kind", ["missing", "empty", "text"])
def test_bad_inputs(tmp_path, kind):
    path = tmp_path / "clip.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video\n" * 50)
    result = run_cli("track", str(path), "--box", "1,1,5,5", "-o", str(tmp_path / "o"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(path) in result.stderr


def test_unwritable_output_dir(tmp_path, square_video):
    video, boxes = square_video
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("track", str(video), "--box", box_arg(boxes[0]), "-o", str(blocker / "sub"))
    assert result.returncode == 2
    assert "output folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ctrl_c_keeps_a_valid_csv_and_a_playable_video(tmp_path):
    frames, boxes = moving_square_frames(n=600, size=(320, 240), step=(0.3, 0.2))
    video = write_video(tmp_path / "long.avi", frames)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cftrack_cli", "track", str(video), "--box", box_arg(boxes[0]),
         "-o", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    partial = out / ".boxes.partial.csv"
    deadline = time.time() + 60
    while time.time() < deadline:
        if partial.exists() and partial.read_text().count("\n") > 20:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    rows = read_csv((out / "boxes.csv").read_text())
    assert 20 <= len(rows) < 600
    np.testing.assert_array_equal(rows[:, 0], np.arange(len(rows)))
    assert count_video_frames(out / "annotated.mp4") == len(rows)


@pytest.mark.shared
def test_crossing_pipeline_follows_the_pedestrian(tmp_path):
    seq = shared_path("data", "sequences", "Crossing")
    gt_file = seq / "groundtruth_rect.txt"
    result = run_cli("track", str(seq), "--box-file", str(gt_file), "--csv", "-", "--no-video")
    assert result.returncode == 0, result.stderr
    rows = read_csv(result.stdout)
    from cftrack_cli.io.annotations import read_boxes

    gt = read_boxes(gt_file)
    assert rows.shape == (len(gt), 7)
    ious = [iou(Box(*r[1:5]), Box(*g)) for r, g in zip(rows, gt, strict=True)]
    assert np.mean(ious) > 0.5


SAMPLE = Path(__file__).resolve().parents[1] / "samples"


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_option_sizes_every_library_pool(tmp_path, square_video, threads):
    import torch
    from threadpoolctl import threadpool_info

    video, boxes = square_video
    with library_threads(torch.get_num_threads()):  # restores this process's pools after
        result = CliRunner().invoke(
            app,
            ["track", str(video), "-b", box_arg(boxes[0]), "--csv", "-", "--no-video"]
            + (["--threads", str(threads)] if threads != 1 else []),
        )
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == threads
        assert cv2.getNumThreads() == threads
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_track_gives_the_boxes_eval_scores(tmp_path, threads):
    """``track`` at any thread count and ``eval``'s single-threaded runner agree exactly."""
    from cftrack_cli.io.frames import open_frames
    from cftrack_cli.trackers import create_tracker
    from cftrack_cli.trackers.session import track_frames

    clip = SAMPLE / "bag.avi"
    first = "291,127,146,132"
    result = run_cli(
        "track",
        str(clip),
        "-b",
        first,
        "--csv",
        "-",
        "--no-video",
        "-q",
        "--max-frames",
        "40",
        "--threads",
        threads,
    )
    assert result.returncode == 0, result.stderr
    tracked = read_csv(result.stdout)[:, 1:5]
    with library_threads(1), open_frames(str(clip)) as frames:
        steps = track_frames(create_tracker("eco-student"), frames, Box(291, 127, 146, 132), 40)
        expected = np.array([tuple(s.result.box) for s in steps])
    np.testing.assert_allclose(tracked, expected, atol=0.01)  # the CSV keeps 2 decimals


@pytest.mark.parametrize("tracker", ["eco-hc", "eco-student"])
def test_the_library_gives_the_same_boxes_whatever_blas_threads_the_caller_runs(tracker):
    """A program calling ``update`` with a multi-threaded BLAS gets ``track``'s boxes: the
    trackers run their small solver products on one BLAS thread and give the caller's pools
    back as they were."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from cftrack_cli.io.frames import open_frames
    from cftrack_cli.trackers import create_tracker
    from cftrack_cli.trackers.session import track_frames

    runs = []
    for blas_threads in (1, 2):
        with threadpool_limits(blas_threads, user_api="blas"):
            with open_frames(str(SAMPLE / "bag.avi")) as frames:
                steps = track_frames(create_tracker(tracker), frames, Box(291, 127, 146, 132), 60)
                runs.append(np.array([tuple(s.result.box) for s in steps]))
            pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
            assert pools and all(n == blas_threads for n in pools)
    np.testing.assert_array_equal(runs[0], runs[1])
