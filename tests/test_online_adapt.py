"""Online adaptation (features.adaptation), eco-student-online and track --online-adapt."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cftrack_cli.boxes import Box, iou
from cftrack_cli.cli import app
from cftrack_cli.features.adaptation import (
    OnlineParams,
    SampleGeometry,
    adapt_student,
    first_frame_pairs,
)
from cftrack_cli.features.deep import Tap
from cftrack_cli.nets.preprocessing import CAFFE_VGG
from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
from cftrack_cli.nets.weights import load_student, save_student
from cftrack_cli.trackers import create_tracker
from cftrack_cli.trackers.session import track_frames
from synthetic import moving_square_frames, write_video

TAPS = (Tap("conv3_3"), Tap("conv5_3"))


@pytest.fixture
def student_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = StudentNet(vgg16_student_spec(0.125))
    return save_student(tmp_path / "tiny_student.pth", net, {"preprocessing": CAFFE_VGG})


@pytest.fixture
def scene():
    """The first frame of the moving square and the geometry of a 128 px sample around it."""
    frames, boxes = moving_square_frames(n=1, size=(160, 120))
    x, y, w, h = boxes[0]
    geometry = SampleGeometry((x + w / 2, y + h / 2), 4.0 * w, 128, (w * 128 / (4.0 * w),) * 2)
    return frames[0], geometry


def _state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_pairs_put_the_target_at_the_known_shift(scene):
    frame, geometry = scene
    template, searches, shifts = first_frame_pairs(frame, geometry, OnlineParams(n_search=6))
    assert template.shape == (1, 128, 128, 3) and searches.shape == (6, 128, 128, 3)
    assert np.all(np.hypot(*shifts.T) > 0)  # every search moves the target
    assert np.all(np.abs(shifts) <= 0.15 * 128 * np.exp(0.1) + 1e-3)
    # The square's striped texture, found back by template matching in each search.
    patch = template[0, 50:78, 50:78].astype(np.float32)
    for search, (dy, dx) in zip(searches, shifts, strict=True):
        scores = cv2_match(search.astype(np.float32), patch)
        py, px = np.unravel_index(np.argmax(scores), scores.shape)
        # Rescaling (up to 10 %) moves the patch's corner a little relative to the centre.
        assert abs(py - (50 + dy)) <= 4 and abs(px - (50 + dx)) <= 4


def cv2_match(image: np.ndarray, patch: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.matchTemplate(image, patch, cv2.TM_CCOEFF_NORMED)


def test_adaptation_trains_only_the_last_layer_and_lowers_the_loss(student_file, scene):
    frame, geometry = scene
    net, _ = load_student(student_file)
    before = _state(net)
    adapted, report = adapt_student(net, TAPS, frame, geometry, OnlineParams(steps=10, lr=1e-3))
    # The loaded network is untouched, still frozen; the copy is another object.
    assert adapted is not net
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not any(p.requires_grad for p in net.parameters())
    assert not any(p.requires_grad for p in adapted.parameters())
    # Only conv5 (the last conv before the deepest tap, conv5_3) moved.
    changed = {
        k.split(".")[0] for k, v in adapted.state_dict().items() if not torch.equal(v, before[k])
    }
    assert changed == {"conv5"} and report.trained == ("conv5",)
    assert report.loss_taps == ("conv5_3",)
    assert report.tracking_after < 0.9 * report.tracking_before
    assert 0 < report.keep_after < 1
    assert adapted.preprocessing is net.preprocessing


def test_gradients_only_inside(student_file, scene):
    frame, geometry = scene
    net, _ = load_student(student_file)
    with torch.inference_mode():  # a caller in inference mode (as TorchBackend runs)
        adapted, report = adapt_student(net, TAPS, frame, geometry, OnlineParams(steps=3))
        assert torch.is_inference_mode_enabled() and not torch.is_grad_enabled()
    assert report.tracking_after < report.tracking_before
    assert not adapted.conv5.weight.requires_grad and adapted.conv5.weight.grad is None


def test_named_layers_and_bad_names(student_file, scene):
    frame, geometry = scene
    net, _ = load_student(student_file)
    before = _state(net)
    params = OnlineParams(steps=3, train=("conv2", "conv5"))
    adapted, report = adapt_student(net, TAPS, frame, geometry, params)
    changed = {
        k.split(".")[0] for k, v in adapted.state_dict().items() if not torch.equal(v, before[k])
    }
    assert changed == {"conv2", "conv5"} and report.loss_taps == ("conv3_3", "conv5_3")
    with pytest.raises(ValueError, match="conv9"):
        adapt_student(net, TAPS, frame, geometry, OnlineParams(train=("conv9",)))


def test_adaptation_is_deterministic(student_file, scene):
    frame, geometry = scene
    net, _ = load_student(student_file)
    params = OnlineParams(steps=5)
    a, ra = adapt_student(net, TAPS, frame, geometry, params)
    b, rb = adapt_student(net, TAPS, frame, geometry, params)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert ra.tracking_after == rb.tracking_after
    c, _ = adapt_student(net, TAPS, frame, geometry, replace(params, seed=1))
    assert not torch.equal(a.conv5.weight, c.conv5.weight)


def test_zero_steps_is_the_loaded_network(student_file, scene):
    frame, geometry = scene
    net, _ = load_student(student_file)
    adapted, _ = adapt_student(net, TAPS, frame, geometry, OnlineParams(steps=0))
    for (k, v), w in zip(adapted.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.equal(v, w), k


def test_eco_student_online_follows_a_target_and_keeps_its_student(student_file):
    tracker = create_tracker(f"eco-student-online@{student_file}")
    assert tracker.name == "eco-student-online@tiny_student"
    loaded = tracker.network.net
    before = _state(loaded)
    frames, boxes = moving_square_frames(n=25, size=(160, 120))
    steps = list(track_frames(tracker, frames, Box(*boxes[0])))
    ious = [iou(s.result.box, Box(*b)) for s, b in zip(steps, boxes, strict=True)]
    assert float(np.mean(ious)) > 0.5
    assert tracker.adaptation is not None and tracker.adaptation.trained == ("conv5",)
    assert tracker.timer.calls["adapt"] == 1
    # ECO ran the adapted copy; the loaded student is as it was, so a new init restarts from it.
    assert tracker.network.net is not loaded
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, before[k]), k
    first = tracker.network.net
    tracker.init(frames[0], Box(*boxes[0]))
    assert tracker.network.net is not first
    for (k, v), w in zip(
        first.state_dict().items(), tracker.network.net.state_dict().values(), strict=True
    ):
        assert torch.equal(v, w), k  # same frame, same box: the same adaptation


def test_adapt_steps_option(student_file):
    tracker = create_tracker("eco-student-online", weights=str(student_file), adapt_steps=0)
    assert tracker.online.steps == 0


def test_track_online_adapt_needs_a_student(tmp_path):
    frames, boxes = moving_square_frames(n=3, size=(96, 80))
    video = write_video(tmp_path / "clip.avi", frames)
    box = ",".join(str(v) for v in boxes[0])
    result = CliRunner().invoke(
        app, ["track", str(video), "--box", box, "-t", "dcf", "--online-adapt", "-q"]
    )
    assert result.exit_code == 2
    message = result.output.strip()
    assert (
        len(message.splitlines()) == 1 and "--online-adapt" in message and "eco-student" in message
    )


def test_track_online_adapt_with_a_student(tmp_path, student_file):
    frames, boxes = moving_square_frames(n=4, size=(96, 80))
    video = write_video(tmp_path / "clip.avi", frames)
    box = ",".join(str(v) for v in boxes[0])
    args = ["track", str(video), "--box", box, "-t", "eco-student", "--online-adapt"]
    result = CliRunner().invoke(
        app, [*args, "--weights", str(student_file), "--csv", "-", "--no-video", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 5  # header + 4 frames
