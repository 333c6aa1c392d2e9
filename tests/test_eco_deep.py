"""Deep ECO presets: the student and teacher behind the same ECO, NAME@PATH, options."""

from pathlib import Path

import numpy as np
import pytest
import torch

from cftrack_cli.boxes import Box, iou
from cftrack_cli.errors import UsageError
from cftrack_cli.nets.preprocessing import CAFFE_VGG
from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
from cftrack_cli.nets.teacher import VGG16Features
from cftrack_cli.nets.weights import load_student, save_student
from cftrack_cli.trackers import create_tracker, networks
from cftrack_cli.trackers.session import track_frames
from conftest import shared_path
from synthetic import moving_square_frames


@pytest.fixture
def student_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = StudentNet(vgg16_student_spec(0.125))
    return save_student(tmp_path / "tiny_student.pth", net, {"preprocessing": CAFFE_VGG})


def _mean_iou(tracker, n=25) -> float:
    frames, boxes = moving_square_frames(n=n, size=(160, 120))
    steps = list(track_frames(tracker, frames, Box(*boxes[0])))
    return float(np.mean([iou(s.result.box, Box(*b)) for s, b in zip(steps, boxes, strict=True)]))


def test_student_named_by_its_file_follows_a_target(student_file):
    tracker = create_tracker(f"eco-student@{student_file}")
    assert tracker.name == "eco-student@tiny_student"
    # Random CNN layers plus fHOG: no accuracy claim, but it must run and follow a clear target.
    assert _mean_iou(tracker) > 0.5
    # ECO reads the student's stride-16 layer only (conv5_3), beside fHOG (cell 4) and, on
    # colour frames, ColorNames (cell 4).
    assert [t.label for t in tracker.network.taps] == ["conv5_3"]
    strides = sorted(e.cell_size for e in tracker.stage.extractors)
    assert strides == [4, 4, 16]


def test_the_hosts_read_the_layers_chosen_for_them(student_file):
    # Deep ECO reads the deepest layer (beside fHOG and ColorNames), DeepSTRCF the mid-level one
    # pooled to stride 16 (beside grey, fHOG and ColorNames), though the student has taps at
    # strides 2 to 16.
    eco = create_tracker(f"eco-student@{student_file}")
    strcf = create_tracker(f"deepstrcf@{student_file}")
    assert len(eco.network.net.taps) == 4
    assert [t.label for t in eco.network.taps] == ["conv5_3"]
    assert [t.label for t in strcf.network.taps] == ["conv4_3/avg2"]
    assert [layer.cell_size for layer in strcf.params.layers] == [16, 4, 4, 4]


def test_weights_option_is_the_same_as_the_suffix(student_file):
    a = create_tracker("eco-student", weights=str(student_file))
    b = create_tracker(f"eco-student@{student_file}")
    assert type(a) is type(b) and a.name == "eco-student" and b.name.endswith("tiny_student")


def test_no_student_weights_says_how_to_give_them(monkeypatch):
    monkeypatch.delenv(networks.STUDENT_ENV, raising=False)
    monkeypatch.setattr(networks, "DEFAULT_STUDENT", "no_such_student.pth")
    with pytest.raises(UsageError, match="--weights"):
        create_tracker("eco-student")


def test_options_a_tracker_does_not_take_are_ignored():
    assert create_tracker("dcf", teacher_weights="/nowhere", weights=None).name == "dcf"
    with pytest.raises(UsageError, match="takes no weights"):
        create_tracker("dcf@some.pth")


def test_teacher_with_random_weights_runs(tmp_path):
    torch.manual_seed(0)
    state = {k: v.half() for k, v in VGG16Features().state_dict().items()}
    path = tmp_path / "vgg16_imagenet_features_fp16.pth"  # a known name: Caffe preprocessing
    torch.save(state, path)
    tracker = create_tracker("eco-teacher", teacher_weights=str(path))
    frames, boxes = moving_square_frames(n=4, size=(96, 80))
    steps = list(track_frames(tracker, frames, Box(*boxes[0])))
    assert len(steps) == 4 and all(np.isfinite(s.result.box).all() for s in steps)
    assert sorted(e.cell_size for e in tracker.stage.extractors) == [4, 4, 16]
    assert [t.label for t in tracker.network.taps] == ["conv5_3"]


@pytest.mark.shared
def test_cf_vggm_uses_ecos_vggm_layers():
    path = shared_path("weights", "cf_vggm_student.pth")
    net, meta = load_student(path)
    taps = networks.student_taps(net, meta)
    assert [t.label for t in taps] == ["norm1/avg2", "relu5"]
    deep_only = networks.student_taps(net, meta, deepest_only=True)
    assert [t.label for t in deep_only] == ["norm1/avg2", "relu5"]  # ECO's VGG-M pair kept
    tracker = create_tracker(f"eco-student@{path}")
    assert tracker.name == "eco-student@cf_vggm_student"
