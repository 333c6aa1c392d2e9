"""OpenCV's peers: NanoTrack and VitTrack (model files from ../shared), VitTrack's normalisation
check, where the model files are found, and failures reported as lost frames."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cftrack_cli.cli import app
from cftrack_cli.errors import UsageError
from cftrack_cli.evaluation.datasets import find_dataset
from cftrack_cli.evaluation.metrics import overlaps
from cftrack_cli.io.frames import read_images
from cftrack_cli.trackers import create_tracker
from cftrack_cli.trackers.opencv_deep import (
    quaternion_encoded_std,
    std_is_per_channel,
    vit_runner,
    vit_std,
)
from cftrack_cli.trackers.peer_models import ENV_VAR
from conftest import load_script, shared_path
from synthetic import moving_square_frames, write_video


@pytest.fixture(autouse=True)
def no_peer_models_variable(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def _peers():
    return shared_path("weights", "peers")


def _david(frames: int = 80):
    seq = find_dataset(shared_path("data", "sequences"), ["David"]).sequences[0]
    return list(read_images(seq.frames[:frames])), seq.groundtruth[:frames]


def _mean_iou(tracker, frames, gt) -> float:
    tracker.init(frames[0], gt[0])
    boxes = [tuple(gt[0])] + [tuple(tracker.update(f).box) for f in frames[1:]]
    return float(np.nanmean(overlaps(np.array(boxes), gt)))


def _quaternion_inverse(q) -> np.ndarray:
    """``1 / cv::Scalar(q)`` as OpenCV computes it: the conjugate over the squared norm."""
    q = np.asarray(q, dtype=float)
    return q * np.array([1, -1, -1, -1]) / (q @ q)


def _scale_factors(std, *, quaternion: bool) -> tuple[float, ...]:
    """The factors a 3-channel image is multiplied by, per channel or through a quaternion."""
    factors = _quaternion_inverse(std)[:3] if quaternion else 1 / np.asarray(std[:3], float)
    return tuple(factors)


def test_quaternion_encoding_inverts_to_the_reciprocals():
    std = (0.229, 0.224, 0.225)
    inverse = _quaternion_inverse(quaternion_encoded_std(std))
    np.testing.assert_allclose(inverse, [*(1 / np.array(std)), 0.0], rtol=1e-12)


def test_the_probe_tells_quaternion_division_from_per_channel_division():
    assert std_is_per_channel(lambda std: _scale_factors(std, quaternion=False))
    assert not std_is_per_channel(lambda std: _scale_factors(std, quaternion=True))


# The releases whose VitTrack preprocessing we have checked: 5.0.0 divides by stdvalue as a
# quaternion (the fault the peers README documents); 5.1.0 divides per channel.
CHECKED_RELEASES = {"5.0.0": False, "5.1.0": True}


def test_vittrack_probe_gives_the_checked_answer_for_this_opencv():
    import cv2

    net = (_peers() / "vittrack" / "object_tracking_vittrack_2023sep.onnx").resolve()
    per_channel = std_is_per_channel(vit_runner(net))
    assert std_is_per_channel(vit_runner(net)) == per_channel  # the probe is deterministic
    documented = tuple(cv2.TrackerVit_Params().stdvalue)
    expected = documented if per_channel else quaternion_encoded_std(documented)
    assert vit_std(net)[0] == pytest.approx(expected)
    if cv2.__version__ in CHECKED_RELEASES:
        assert per_channel == CHECKED_RELEASES[cv2.__version__]


@pytest.mark.slow
def test_vittrack_follows_a_real_target_only_as_configured():
    """The configuration the check picks tracks David; the other one drifts."""
    import cv2

    from cftrack_cli.trackers.opencv import OpenCVTracker

    frames, gt = _david()
    chosen = create_tracker("opencv-vit", peer_models=str(_peers()))
    assert "opencv-vit" in chosen.setup_note
    net = _peers() / "vittrack" / "object_tracking_vittrack_2023sep.onnx"
    std, _ = vit_std(net.resolve())
    other = quaternion_encoded_std(std) if std == cv2.TrackerVit_Params().stdvalue else None

    def make_other():
        params = cv2.TrackerVit_Params()
        params.net = str(net)
        if other is not None:
            params.stdvalue = other
        return cv2.TrackerVit.create(params)

    good = _mean_iou(chosen, frames, gt)
    bad = _mean_iou(OpenCVTracker(make_other, own_score=True), frames, gt)
    assert good > 0.6 and bad < good - 0.2, (good, bad)


@pytest.mark.slow
def test_nanotrack_follows_a_real_target_with_its_own_score():
    frames, gt = _david()
    tracker = create_tracker("opencv-nano", peer_models=str(_peers()))
    assert tracker.reports_lost
    assert _mean_iou(tracker, frames, gt) > 0.6
    score = tracker.update(frames[-1]).score
    assert 0.0 < score <= 1.0 and score not in (1.0, 0.0)  # NanoTrack's, not 1/0


def test_peer_models_from_the_variable(monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(_peers()))
    tracker = create_tracker("opencv-nano")
    assert tracker.describe()["model_files"][0].startswith(str(_peers()))


def test_missing_model_files_say_what_and_where(tmp_path, monkeypatch):
    with pytest.raises(UsageError) as info:
        create_tracker("opencv-vit")
    message = str(info.value)
    assert "vittrack/object_tracking_vittrack_2023sep.onnx" in message
    assert "--peer-models" in message and ENV_VAR in message and "opencv_zoo" in message
    assert "\n" not in message
    (tmp_path / "nanotrack").mkdir()
    (tmp_path / "nanotrack" / "nanotrack_backbone_sim.onnx").write_bytes(b"x")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(UsageError, match=r"nanotrack/nanotrack_head_sim\.onnx in .*CFTRACK_PEER"):
        create_tracker("opencv-nano")
    with pytest.raises(UsageError, match="no such folder"):
        create_tracker("opencv-nano", peer_models=str(tmp_path / "absent"))


def test_a_corrupt_model_file_is_one_line(tmp_path):
    (tmp_path / "vittrack").mkdir()
    (tmp_path / "vittrack" / "object_tracking_vittrack_2023sep.onnx").write_bytes(b"not onnx")
    with pytest.raises(UsageError, match=r"opencv-vit cannot load .*OpenCV says"):
        create_tracker("opencv-vit", peer_models=str(tmp_path))


def test_track_without_model_files_is_a_usage_error(tmp_path, square_video):
    video, _ = square_video
    result = CliRunner().invoke(
        app, ["track", str(video), "-t", "opencv-nano", "--box", "20,20,28,28", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--peer-models" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("name", ["opencv-kcf", "opencv-csrt", "opencv-mosse"])
def test_a_peer_that_reports_failure_flags_the_frame_lost(name):
    frames, boxes = moving_square_frames(n=6)
    tracker = create_tracker(name)
    assert tracker.reports_lost
    tracker.init(frames[0], boxes[0])
    for frame in frames[1:]:
        tracked = tracker.update(frame)
    blank = np.full_like(frames[0], 128)  # the target is gone: OpenCV's update says ok=False
    lost = tracker.update(blank)
    assert lost.lost and lost.score == 0.0
    assert lost.box == tracked.box or tracked.lost  # the last good box is kept


def test_track_writes_lost_rows_for_a_peer(tmp_path):
    frames, boxes = moving_square_frames(n=12)
    frames += [np.full_like(frames[0], 128)] * 4
    video = write_video(tmp_path / "gone.avi", frames)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["track", str(video), "-t", "opencv-kcf", "--box", ",".join(map(str, boxes[0])),
         "-o", str(out), "--no-video", "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "boxes.csv").open()))
    assert [r["lost"] for r in rows[-4:]] == ["1"] * 4
    assert rows[1]["lost"] == "0"


@pytest.mark.slow
def test_eval_runs_the_peers_and_says_how_vittrack_is_set_up(tmp_path):
    data = shared_path("data", "sequences")
    result = CliRunner().invoke(
        app,
        ["eval", str(data), "-t", "opencv-nano,opencv-vit", "--sequences", "Surfing06",
         "--peer-models", str(_peers()), "--results-dir", str(tmp_path / "r"),
         "--report-dir", str(tmp_path / "rep")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "note: opencv-vit:" in result.output
    scores = (tmp_path / "r" / "opencv-vit" / "scores" / "Surfing06_score.txt").read_text()
    assert all(len(line.split(",")) == 2 for line in scores.splitlines())  # score,lost


def test_the_direct_cross_check_picks_vittracks_stdvalue_by_release(monkeypatch):
    import cv2

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "peers_direct.py"
    direct = load_script(script, "bench_peers_direct")
    try:
        for version, expected in (
            ("5.0.0", "corrected"),
            ("5.1.0", "default"),
            ("6.0.1", "default"),
        ):
            monkeypatch.setattr(cv2, "__version__", version)
            assert direct.resolve_vit_std("auto") == expected
        assert direct.resolve_vit_std("corrected") == "corrected"  # an explicit choice stands
        assert direct.corrected_vit_std() == pytest.approx(
            quaternion_encoded_std((0.229, 0.224, 0.225))
        )
    finally:
        sys.modules.pop("bench_peers_direct", None)
