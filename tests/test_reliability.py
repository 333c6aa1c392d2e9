"""The reliability battery: bad input, existing outputs, interruption and untrusted weights.

One test per case of docs/reliability.md ("What happens when..."), over all four commands. Every
failure must be one line on stderr (``cftrack: error: ...``) with the documented exit status and
no traceback. Inputs are tiny and made on the fly; the tracker is the fast ``dcf`` unless a case
is about another one.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from cftrack_cli.boxes import Box
from cftrack_cli.cli import app
from cftrack_cli.distill.train import read_distill_checkpoint
from cftrack_cli.errors import UsageError
from cftrack_cli.evaluation.synthetic import write_dataset
from cftrack_cli.nets.preprocessing import CAFFE_VGG
from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
from cftrack_cli.nets.weights import load_student, save_student
from cftrack_cli.trackers import create_tracker, tracker_names
from distill_helpers import make_corpus
from synthetic import moving_square_frames, write_image_folder, write_video

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# One BLAS thread: on a loaded 2-core machine OpenBLAS's spinning threads make dcf 30x slower.
ENV = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
SIZE = (160, 120)  # w, h of the synthetic clips
START = "20,20,28,28"  # the square's first box in moving_square_frames


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], np.ndarray]:
    return moving_square_frames(n=12, size=SIZE)


@pytest.fixture
def video(tmp_path, clip) -> Path:
    return write_video(tmp_path / "clip.avi", clip[0])


# -- helpers --------------------------------------------------------------------------------------


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process: what a user's terminal shows."""
    return subprocess.run(
        [sys.executable, "-m", "cftrack_cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=ENV,
    )  # fmt: skip


def one_line_error(result, code: int, *fragments: str) -> str:
    """Exit ``code``, one ``cftrack: error:`` line on stderr holding ``fragments``, no traceback."""
    rc = result.returncode if hasattr(result, "returncode") else result.exit_code
    assert rc == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cftrack: error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def ok(result) -> None:
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr


def track(source: Path, out: Path, *extra: object, box: str = START, tracker: str = "dcf"):
    return invoke("track", source, "--box", box, "-t", tracker, "-o", out, "-q", *extra)


def read_csv(path: Path) -> np.ndarray:
    lines = path.read_text().strip().splitlines()
    assert lines[0] == "frame,x,y,w,h,score,lost"
    return np.array([[float(v) for v in line.split(",")] for line in lines[1:]]).reshape(-1, 7)


def video_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok_, frame = cap.read()
        if not ok_:
            return frames
        frames.append(frame)


def assert_sane_boxes(rows: np.ndarray, size: tuple[int, int] = SIZE) -> None:
    """Every box finite, of positive size, touching the frame; every score finite."""
    assert np.isfinite(rows).all()
    for row in rows:
        box = Box(*row[1:5])
        assert box.is_valid() and box.overlaps_frame(*size), row


def write_mp4(path: Path, frames: list[np.ndarray], faststart: bool) -> Path:
    """An H.264 mp4; ``faststart`` puts the index (moov) first, as streaming encoders do."""
    height, width = frames[0].shape[:2]
    extra = ["-movflags", "+faststart"] if faststart else []
    gen = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=25, codec="libx264", pix_fmt_in="rgb24",
        pix_fmt_out="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
        output_params=["-preset", "veryfast", *extra],
    )  # fmt: skip
    gen.send(None)
    for frame in frames:
        gen.send(np.ascontiguousarray(frame))
    gen.close()
    return path


def noisy_frames(n: int = 30) -> list[np.ndarray]:
    """Frames that do not compress, so half the file really is half the frames."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8) for _ in range(n)]


# -- bad input: files ------------------------------------------------------------------------------


@pytest.mark.parametrize("faststart", [False, True], ids=["index-at-end", "index-first"])
def test_truncated_mp4(tmp_path, faststart):
    full = write_mp4(tmp_path / "full.mp4", noisy_frames(), faststart)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o"
    result = track(cut, out)
    if not faststart:  # the index went with the second half: nothing to decode
        one_line_error(result, 2, str(cut), "not a video")
        assert not out.exists() or not list(out.iterdir())
        return
    # The index survived: the decodable first half is tracked, with a warning.
    ok(result)
    assert "warning" in result.stderr and "of the 30 frames it declares" in result.stderr
    rows = read_csv(out / "boxes.csv")
    assert 2 <= len(rows) < 30
    assert len(video_frames(out / "annotated.mp4")) == len(rows)


@pytest.mark.parametrize("kind", ["zero-byte", "text", "truncated"])
@pytest.mark.parametrize("command", ["bench", "distill"])
def test_unreadable_video_in_bench_and_distill(tmp_path, kind, command):
    """``track`` has the same cases in test_track_cli.py::test_bad_inputs."""
    path = tmp_path / "clip.mp4"
    if kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n" * 50)
    else:
        data = write_mp4(tmp_path / "full.mp4", noisy_frames(10), faststart=False).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    if command == "bench":
        result = invoke("bench", "-t", "dcf", "--sequence", path, "--box", "1,1,9,9", "-q")
    else:
        result = invoke("distill", "--data", path, "--out", tmp_path / "s.pth")
    one_line_error(result, 2, str(path))


def test_image_folder_with_mixed_sizes_keeps_the_frames_before(tmp_path, clip):
    folder = write_image_folder(tmp_path / "seq", clip[0][:6])
    odd = cv2.resize(clip[0][3], (SIZE[0] - 10, SIZE[1]))
    cv2.imwrite(str(folder / "0004.png"), odd)
    out = tmp_path / "o"
    line = one_line_error(track(folder, out), 1, "0004.png", "150x120", "160x120")
    assert "the outputs hold the 3 frames before it" in line
    assert len(read_csv(out / "boxes.csv")) == 3
    assert len(video_frames(out / "annotated.mp4")) == 3
    assert not list(out.glob(".*partial*"))


@pytest.mark.parametrize("kind", ["grey", "rgba", "16-bit"])
def test_grey_rgba_and_16bit_png_frames(tmp_path, clip, kind):
    folder = tmp_path / kind
    folder.mkdir()
    for i, rgb in enumerate(clip[0][:6], 1):
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        image = {
            "grey": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
            "rgba": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
            "16-bit": bgr.astype(np.uint16) * 257,
        }[kind]
        cv2.imwrite(str(folder / f"{i:04d}.png"), image)
    out = tmp_path / "o"
    ok(track(folder, out))
    rows = read_csv(out / "boxes.csv")
    assert len(rows) == 6
    assert_sane_boxes(rows)
    assert rows[-1][1] > 20  # the square moves right, and is followed


def test_4k_frames(tmp_path, clip):
    folder = tmp_path / "uhd"
    folder.mkdir()
    for i, rgb in enumerate(clip[0][:3], 1):
        big = cv2.resize(rgb, (3840, 2160), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    out = tmp_path / "o"
    ok(track(folder, out, "--max-frames", 2, box="480,360,672,504"))  # START, 24x / 18x
    rows = read_csv(out / "boxes.csv")
    assert len(rows) == 2
    assert_sane_boxes(rows, (3840, 2160))
    frames = video_frames(out / "annotated.mp4")
    assert len(frames) == 2 and frames[0].shape == (2160, 3840, 3)


def test_one_frame_video(tmp_path, clip):
    source = write_video(tmp_path / "one.avi", clip[0][:1])
    out = tmp_path / "o"
    ok(track(source, out))
    rows = read_csv(out / "boxes.csv")
    np.testing.assert_allclose(rows, [[0, 20, 20, 28, 28, 1, 0]])
    assert len(video_frames(out / "annotated.mp4")) == 1


# -- bad input: boxes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "box",
    [
        "0,0,28,28",  # touching the top-left border
        "132,92,28,28",  # touching the bottom-right border
        "-10,-10,30,30",  # partly outside
        "-20,-20,200,160",  # larger than the frame
        "50,50,1,1",  # 1x1 px
    ],
    ids=["border-top-left", "border-bottom-right", "partly-outside", "larger-than-frame", "1x1"],
)
@pytest.mark.parametrize("tracker", ["dcf", "eco-hc"])
def test_odd_initial_boxes_track_with_sane_boxes(tmp_path, video, box, tracker):
    out = tmp_path / "o"
    ok(track(video, out, "--no-video", box=box, tracker=tracker))
    rows = read_csv(out / "boxes.csv")
    assert len(rows) == 12
    np.testing.assert_allclose(rows[0, 1:5], [float(v) for v in box.split(",")])
    assert_sane_boxes(rows)


def test_opencv_peers_track_or_refuse_odd_boxes_in_one_line(clip):
    """OpenCV's MIL loops forever on a box under 5 px and its peers assert on 1 px ones."""
    frames = clip[0][:4]
    boxes = [
        (0, 0, 28, 28),
        (-10, -10, 30, 30),
        (-20, -20, 200, 160),
        (50, 50, 1, 1),
        (50, 50, 4, 4),
    ]
    from cftrack_cli.trackers.peer_models import MODELS
    from conftest import SHARED

    peers = SHARED / "weights" / "peers"  # NanoTrack's and VitTrack's files, where present
    names = [n for n in tracker_names() if n.startswith("opencv-")]
    for name in (n for n in names if n not in MODELS or peers.is_dir()):
        for box in boxes:
            tracker = create_tracker(name, peer_models=str(peers))
            try:
                tracker.init(frames[0], box)
            except UsageError as exc:
                assert "\n" not in str(exc) and name in str(exc)
                continue
            rows = [tracker.update(f) for f in frames[1:]]
            for r in rows:
                assert Box(*r.box).is_valid() and np.isfinite(r.score), (name, box, r)


def test_opencv_mil_on_a_1px_box_does_not_hang(tmp_path, video):
    result = cli("track", video, "--box", "50,50,1,1", "-t", "opencv-mil", "-o", tmp_path / "o",
                 timeout=60)  # fmt: skip
    one_line_error(result, 2, "opencv-mil needs a box of at least 5x5 px")


@pytest.mark.parametrize(
    "box, fragment",
    [
        ("10,10,nan,20", "finite"),
        ("inf,10,20,20", "finite"),
        ("10,-inf,20,20", "finite"),
        ("10,10,1e999,20", "finite"),  # overflows to inf
        ("10,10,-20,20", "positive"),
        ("10,10,20,-5", "positive"),
        ("-5,-5,-10,-10", "positive"),
        ("-500,-500,20,20", "outside"),
    ],
)
def test_nan_inf_and_negative_box_numbers(tmp_path, video, box, fragment):
    out = tmp_path / "o"
    one_line_error(track(video, out, box=box), 2, fragment)
    assert not (out / "boxes.csv").exists()


def test_box_file_with_a_nan_first_row(tmp_path, video):
    gt = tmp_path / "gt.txt"
    gt.write_text("NaN,NaN,NaN,NaN\n21,21,28,28\n")
    result = invoke("track", video, "--box-file", gt, "-t", "dcf", "-o", tmp_path / "o")
    one_line_error(result, 2, str(gt), "first row has no box")


def test_eval_ground_truth_with_nan_rows(tmp_path):
    root = tmp_path / "ds"
    write_dataset(root, ("A", "B"), frames=12, size=(80, 80))
    gt = root / "A" / "groundtruth_rect.txt"
    rows = gt.read_text().splitlines()
    rows[3], rows[4], rows[7] = "NaN,NaN,NaN,NaN", "nan nan nan nan", "0,0,0,0"  # absent target
    gt.write_text("\n".join(rows) + "\n")
    result = invoke("eval", root, "-t", "dcf", "--results-dir", tmp_path / "r",
                    "--report-dir", tmp_path / "p", "-q")  # fmt: skip
    ok(result)
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    sequences = report["trackers"]["dcf"]["sequences"]
    assert sequences["A"]["frames_scored"] == 9 and sequences["B"]["frames_scored"] == 12
    for key in ("success_auc", "precision_20", "norm_precision", "success_50"):
        assert 0 <= sequences["A"][key] <= 1, key


# -- outputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["eval-results", "eval-report", "bench-json"])
def test_unwritable_output_location(tmp_path, where):
    """A file where a folder should be (root ignores permission bits, so no chmod here)."""
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    bad = blocker / "sub"
    if where == "bench-json":
        folder = write_image_folder(tmp_path / "seq", moving_square_frames(n=3, size=SIZE)[0])
        args = [
            "bench",
            "-t",
            "dcf",
            "--sequence",
            folder,
            "--box",
            START,
            "--json",
            bad / "b.json",
        ]
    else:
        write_dataset(tmp_path / "ds", ("A",), frames=4)
        dirs = {"eval-results": bad, "eval-report": tmp_path / "p"}
        if where == "eval-report":
            dirs = {"eval-results": tmp_path / "r", "eval-report": bad}
        args = ["eval", tmp_path / "ds", "-t", "dcf", "--results-dir", dirs["eval-results"],
                "--report-dir", dirs["eval-report"]]  # fmt: skip
    one_line_error(invoke(*args), 2, str(bad), "cannot create the output folder")


def test_track_refuses_to_overwrite_a_csv_without_overwrite(tmp_path, video):
    out = tmp_path / "o"
    out.mkdir()
    (out / "boxes.csv").write_text("an earlier run's work\n")
    one_line_error(track(video, out), 2, str(out / "boxes.csv"), "--overwrite")
    assert (out / "boxes.csv").read_text() == "an earlier run's work\n"
    assert not (out / "annotated.mp4").exists()
    ok(track(video, out, "--overwrite"))
    assert len(read_csv(out / "boxes.csv")) == 12


def test_track_refuses_to_overwrite_a_video_without_overwrite(tmp_path, video):
    out = tmp_path / "o"
    ok(track(video, out, "--max-frames", 3))
    before = (out / "annotated.mp4").read_bytes()
    one_line_error(track(video, out, "--csv", tmp_path / "new.csv"), 2, "annotated.mp4")
    assert (out / "annotated.mp4").read_bytes() == before and not (tmp_path / "new.csv").exists()
    ok(track(video, out, "--no-video", "--csv", tmp_path / "new.csv"))  # the video is not touched
    ok(track(video, out, "--overwrite"))
    assert len(video_frames(out / "annotated.mp4")) == 12


def test_track_into_a_pipe_whose_reader_stops(tmp_path):
    """`cftrack track ... --csv - | head -1`: the shell's 141, one line, no half-written video."""
    frames, _ = moving_square_frames(n=600, size=SIZE)
    source = write_video(tmp_path / "long.avi", frames)
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cftrack_cli", "track", source, "--box", START, "-t", "dcf",
         "-o", out, "-q", "--csv", "-"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().startswith("frame,")
    proc.stdout.close()  # what `head -1` does after its line
    _, stderr = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)
    one_line_error(result, 141, "closed standard output")
    assert not (out / "annotated.mp4").exists()


def test_bench_refuses_to_overwrite_its_json_without_overwrite(tmp_path, clip):
    folder = write_image_folder(tmp_path / "seq", clip[0][:4])
    report = tmp_path / "bench.json"
    report.write_text("{}\n")
    args = ["bench", "-t", "dcf", "--sequence", folder, "--box", START, "--frames", 3,
            "--repeats", 1, "-q", "--json", report]  # fmt: skip
    one_line_error(invoke(*args), 2, str(report), "--overwrite")
    assert report.read_text() == "{}\n"
    result = invoke(*args, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert "dcf" in json.loads(report.read_text())["trackers"]


def test_distill_refuses_to_overwrite_a_student_or_a_checkpoint(tmp_path, corpus):
    out = tmp_path / "s.pth"
    base = ["distill", "--data", corpus, "--out", out, "--teacher-weights", tmp_path / "none.pth"]
    out.write_bytes(b"an earlier student")
    one_line_error(invoke(*base), 2, str(out), "--overwrite")
    out.unlink()
    (tmp_path / "s.ckpt").write_bytes(b"an earlier run's checkpoint")
    one_line_error(invoke(*base), 2, "s.ckpt", f"--resume {tmp_path / 's.ckpt'}", "--overwrite")
    # With --overwrite the run goes on (and stops at the missing teacher, the next check).
    one_line_error(invoke(*base, "--overwrite"), 2, "no such teacher weights file")
    assert (tmp_path / "s.ckpt").read_bytes() == b"an earlier run's checkpoint"


# -- a target leaving the frame --------------------------------------------------------------------


def leaving_clip(n: int = 36, step: float = 5.0) -> list[np.ndarray]:
    """A textured square sliding right out of a 160x120 frame (gone from frame 18 on)."""
    rng = np.random.default_rng(0)
    width, height = SIZE
    background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), np.uint8), (0, 0), 3)
    pattern = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    pattern[::4] = (255, 40, 40)
    frames = []
    for i in range(n):
        frame = background.copy()
        x = round(70 + step * i)
        if x < width:
            frame[48:72, x : min(width, x + 24)] = pattern[:, : min(width, x + 24) - x]
        frames.append(np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8))
    return frames


@pytest.mark.parametrize("name", ["dcf", "eco-hc", "opencv-kcf", "opencv-csrt"])
def test_target_leaving_the_frame(name):
    frames = leaving_clip()
    tracker = create_tracker(name)
    tracker.init(frames[0], (70, 48, 24, 24))
    results = [tracker.update(f) for f in frames[1:]]
    for r in results:  # no crash, and the box stays sane: finite, sized, touching the frame
        assert Box(*r.box).is_valid() and Box(*r.box).overlaps_frame(*SIZE), r
        assert np.isfinite(r.score)
    visible = np.mean([r.score for r in results[:12]])  # frames 1-12: wholly inside
    gone = np.mean([r.score for r in results[19:]])  # frames 20-35: wholly outside
    assert gone < 0.5 * visible, (visible, gone)
    if tracker.reports_lost:  # ECO: flagged lost once gone, never while in view
        assert not any(r.lost for r in results[:12])
        assert np.mean([r.lost for r in results[19:]]) >= 0.5


# -- interruption ----------------------------------------------------------------------------------
# Ctrl-C during ``track`` (CSV and video of the frames done kept): test_track_cli.py.


def _without_fps(obj):
    if isinstance(obj, dict):
        return {k: _without_fps(v) for k, v in obj.items() if k != "fps"}
    if isinstance(obj, list):
        return [_without_fps(v) for v in obj]
    return obj


def test_ctrl_c_during_eval_then_rerun_gives_the_uninterrupted_report(tmp_path):
    root = tmp_path / "ds"
    # Enough work after the first sequence (seconds) that the interrupt lands mid-run on a fast,
    # quiet machine and on a loaded one (50 frames a sequence sometimes finished first there).
    n = 24
    write_dataset(root, tuple(f"S{i}" for i in range(n)), frames=120, size=(96, 96))
    common = [root, "-t", "dcf", "-q"]
    ok(invoke("eval", *common, "--results-dir", tmp_path / "r0", "--report-dir", tmp_path / "p0"))

    res, rep = tmp_path / "r", tmp_path / "p"
    args = [*common, "--results-dir", res, "--report-dir", rep]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cftrack_cli", "eval", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(res.glob("dcf/S*.txt")) and proc.poll() is None:
        assert time.monotonic() < deadline, "eval never finished a sequence"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("eval finished before the interrupt arrived")
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "run the same command again" in err
    assert 1 <= len(list(res.glob("dcf/S*.txt"))) < n and not list(res.rglob("*partial*"))

    ok(invoke("eval", *args))
    got = json.loads((rep / "report.json").read_text())
    want = json.loads((tmp_path / "p0" / "report.json").read_text())
    assert _without_fps(got) == _without_fps(want)
    for seq in (f"S{i}" for i in range(n)):
        name = f"dcf/{seq}.txt"
        assert (res / name).read_text() == (tmp_path / "r0" / name).read_text(), seq


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("reliability") / "corpus")


@pytest.fixture
def torch_threads():
    """``--threads 1`` sets torch's pool for the whole test process: put it back after."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_ctrl_c_during_distill_then_resume_gives_the_uninterrupted_weights(
    tmp_path, vgg_weights, corpus, torch_threads
):
    def args(out: Path) -> list[str]:
        return [
            "distill", "--teacher-weights", str(vgg_weights), "--teacher-preprocessing", "caffe",
            "--data", str(corpus), "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
            "--pairs", "16", "--batch-size", "8", "--crop-size", "32", "--pca-dims", "8,8",
            "--width", "0.0625", "--tracking-taps", "conv3_3", "--device", "cpu",
            "--epochs", "40", "--threads", "1", "--log-every", "1", "-q",
        ]  # fmt: skip

    full = tmp_path / "full.pth"
    ok(invoke(*args(full)))  # also fills the teacher cache the interrupted run reads

    part = tmp_path / "part.pth"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cftrack_cli", *args(part)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    log = tmp_path / "part.log.jsonl"
    deadline = time.monotonic() + 60
    while proc.poll() is None and not (log.is_file() and '"step"' in log.read_text()):
        assert time.monotonic() < deadline, "distill never logged a step"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("distill finished before the interrupt arrived")
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert not part.exists()
    stopped_at = read_distill_checkpoint(tmp_path / "part.ckpt")["step"]
    assert 0 < stopped_at < 80

    ok(invoke("distill", "--resume", tmp_path / "part.ckpt", "--threads", "1", "-q"))
    a, b = load_student(full)[0].state_dict(), load_student(part)[0].state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# -- untrusted weights -----------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates a marker file: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize(
    "command", ["track", "eval", "bench", "distill --teacher-weights", "distill --resume"]
)
def test_weights_carrying_a_pickle_payload_never_run_it(tmp_path, video, corpus, command):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pth"
    torch.save({"format": "cftrack-student", "meta": _Payload(marker)}, evil)
    write_dataset(tmp_path / "ds", ("A",), frames=3)
    student = ["-t", "eco-student", "--weights", evil]
    args = {
        "track": ["track", video, "--box", START, *student, "-o", tmp_path / "o"],
        "eval": ["eval", tmp_path / "ds", *student, "--results-dir", tmp_path / "r",
                 "--report-dir", tmp_path / "p"],
        "bench": ["bench", "--sequence", video, "--box", START, *student],
        "distill --teacher-weights": ["distill", "--data", corpus, "--out", tmp_path / "s.pth",
                                      "--teacher-weights", evil],
        "distill --resume": ["distill", "--resume", evil],
    }[command]  # fmt: skip
    one_line_error(invoke(*args), 2, str(evil), "could run code")
    assert not marker.exists()


@pytest.fixture
def tiny_student(tmp_path) -> Path:
    torch.manual_seed(0)
    net = StudentNet(vgg16_student_spec(0.0625)).eval()
    net.preprocessing = CAFFE_VGG
    return save_student(tmp_path / "student.pth", net, {"width": 0.0625})


def test_weights_for_another_architecture(tmp_path, video, tiny_student, corpus):
    teacher_like = tmp_path / "vgg_like.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, teacher_like)
    result = invoke("track", video, "--box", START, "-t", "eco-student", "--weights",
                    teacher_like, "-o", tmp_path / "o")  # fmt: skip
    one_line_error(result, 2, str(teacher_like), "bare state dict without cftrack's metadata")
    result = invoke("distill", "--data", corpus, "--out", tmp_path / "s.pth",
                    "--teacher-weights", tiny_student)  # fmt: skip
    one_line_error(result, 2, str(tiny_student), "not a VGG16 state dict")


def test_truncated_weights_file(tmp_path, video, tiny_student):
    data = tiny_student.read_bytes()
    tiny_student.write_bytes(data[: len(data) // 2])
    result = cli("track", video, "--box", START, "-t", "eco-student", "--weights", tiny_student,
                 "-o", tmp_path / "o")  # fmt: skip
    one_line_error(result, 2, str(tiny_student), "corrupt or truncated")


def test_every_torch_load_in_the_package_is_weights_only():
    calls = []
    for path in sorted((SRC / "cftrack_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                flags = {k.arg: ast.unparse(k.value) for k in node.keywords}
                calls.append((path.name, node.lineno, flags.get("weights_only")))
    assert calls, "no torch.load found: has the loader moved?"
    assert all(flag == "True" for *_, flag in calls), calls
