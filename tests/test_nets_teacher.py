"""The VGG16 teacher: key layout, fp16 upcast, taps, preprocessing, where the weights come from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cftrack_cli.errors import UsageError
from cftrack_cli.nets.preprocessing import CAFFE_VGG, TORCHVISION, Preprocessing, preset
from cftrack_cli.nets.teacher import (
    ENV_VAR,
    HUB_FILENAME,
    TEACHER_URL,
    VGG16_TAP_STRIDES,
    VGG16Features,
    load_teacher,
    resolve_teacher_path,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    """A random VGG16 conv state dict in torchvision's key layout (fp16 keeps files small)."""
    torch.manual_seed(0)
    state = {}
    shapes = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256)]
    shapes += [(512, 256), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    for index, (out, inp) in zip(CONV_INDICES, shapes, strict=True):
        state[f"features.{index}.weight"] = (torch.randn(out, inp, 3, 3) * 0.02).half()
        state[f"features.{index}.bias"] = (torch.randn(out) * 0.1).half()
    return state


@pytest.fixture(autouse=True)
def no_user_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Isolate every test from the user's own environment and hub cache."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    hub_home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(hub_home))
    return hub_home


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


# -- the network ------------------------------------------------------------------------------


def test_key_layout_matches_torchvision_indices():
    keys = list(VGG16Features().state_dict())
    assert keys == [f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")]
    pools = [i for i, m in enumerate(VGG16Features().features) if isinstance(m, torch.nn.MaxPool2d)]
    assert pools == [4, 9, 16, 23, 30]


def test_tap_strides_by_output_size():
    net = VGG16Features().eval()
    for h, w in ((64, 64), (70, 45)):
        with torch.inference_mode():
            out = net(torch.randn(1, 3, h, w))
        assert list(out) == list(VGG16_TAP_STRIDES)
        for name, feat in out.items():
            stride = VGG16_TAP_STRIDES[name]
            info = net.tap_info(name)
            assert info.stride == stride and info.offset == 0.0
            assert feat.shape == (1, info.channels, h // stride, w // stride), name
    assert net.tap_info("conv4_3").channels == 512
    assert net.tap_info("conv4_3").receptive_field == 92


def test_forward_stops_after_deepest_tap():
    net = VGG16Features().eval()
    ran: list[int] = []
    for i, module in enumerate(net.features):
        module.register_forward_hook(lambda m, a, o, i=i: ran.append(i))
    with torch.inference_mode():
        out = net(torch.randn(1, 3, 32, 32), ["pool1", "conv3_3"])
    assert list(out) == ["pool1", "conv3_3"]
    assert max(ran) == 15  # conv3_3's ReLU; nothing deeper ran
    ran.clear()
    with torch.inference_mode():
        net(torch.randn(1, 3, 32, 32), ["conv1_1"])
    assert ran == [0, 1]


def test_unknown_tap_is_an_error():
    with pytest.raises(KeyError, match="conv6_1"):
        VGG16Features()(torch.randn(1, 3, 32, 32), ["conv6_1"])


def test_vgg16_macs_match_the_known_figure():
    # VGG16 to conv4_3 costs about 14 GMACs per 224x224 crop (PAPER.md).
    assert VGG16Features().macs((224, 224), ["conv4_3"]) == pytest.approx(13.96e9, rel=1e-3)


# -- loading ----------------------------------------------------------------------------------


def test_loads_plain_state_dict_and_upcasts_fp16(tmp_path, vgg_state):
    path = _save(vgg_state, tmp_path / "teacher.pth")
    teacher = load_teacher(path, preprocessing="caffe")
    state = teacher.net.state_dict()
    assert all(v.dtype == torch.float32 for v in state.values())
    assert torch.equal(state["features.28.weight"], vgg_state["features.28.weight"].float())
    assert teacher.preprocessing == CAFFE_VGG
    assert teacher.source == "--teacher-weights"
    assert not teacher.net.training


def test_loads_full_vgg16_with_classifier_and_wrapped_dicts(tmp_path, vgg_state):
    full = {k: v.float() for k, v in vgg_state.items()}
    full["classifier.0.weight"] = torch.zeros(4, 8)  # a stand-in: only the key matters
    full["classifier.0.bias"] = torch.zeros(4)
    teacher = load_teacher(_save(full, tmp_path / "full.pth"), preprocessing="torchvision")
    assert torch.equal(teacher.net.state_dict()["features.0.bias"], full["features.0.bias"])
    wrapped = {"state_dict": vgg_state, "meta": {"preprocessing": "torchvision"}}
    teacher = load_teacher(_save(wrapped, tmp_path / "wrapped.pth"))
    assert teacher.preprocessing == TORCHVISION


def test_wrong_keys_name_the_keys(tmp_path, vgg_state):
    missing = {k: v for k, v in vgg_state.items() if k != "features.26.bias"}
    with pytest.raises(UsageError, match=r"missing features\.26\.bias"):
        load_teacher(_save(missing, tmp_path / "missing.pth"), preprocessing="caffe")
    wrong = dict(vgg_state, **{"features.0.weight": torch.zeros(64, 1, 3, 3)})
    with pytest.raises(UsageError, match=r"wrong shape features\.0\.weight"):
        load_teacher(_save(wrong, tmp_path / "wrong.pth"), preprocessing="caffe")
    with pytest.raises(UsageError, match="not a VGG16 state dict"):
        load_teacher(_save({"x": torch.zeros(1)}, tmp_path / "other.pth"), preprocessing="caffe")


# -- preprocessing ----------------------------------------------------------------------------


def test_preprocessing_argument_beats_metadata_beats_file_name(tmp_path, vgg_state):
    known = tmp_path / "vgg16_imagenet_features_fp16.pth"  # caffe by the name table
    _save({"state_dict": vgg_state, "meta": {"preprocessing": "torchvision"}}, known)
    assert load_teacher(known, preprocessing="caffe").preprocessing == CAFFE_VGG  # argument
    assert load_teacher(known).preprocessing == TORCHVISION  # metadata beats the name
    plain = _save(vgg_state, tmp_path / "vgg16_imagenet_features_fp16.pth")
    assert load_teacher(plain).preprocessing == CAFFE_VGG  # the name table
    hub_named = _save(vgg_state, tmp_path / HUB_FILENAME)
    assert load_teacher(hub_named).preprocessing == TORCHVISION
    custom = Preprocessing("custom", mean=(1.0, 2.0, 3.0))
    meta_dict = {"state_dict": vgg_state, "meta": {"preprocessing": custom.to_dict()}}
    assert load_teacher(_save(meta_dict, tmp_path / "c.pth")).preprocessing == custom


def test_unknown_preprocessing_asks_for_the_option(tmp_path, vgg_state):
    path = _save(vgg_state, tmp_path / "my_vgg.pth")
    with pytest.raises(UsageError, match="--teacher-preprocessing caffe") as err:
        load_teacher(path)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="expected caffe or torchvision"):
        load_teacher(path, preprocessing="bgr")


def test_preprocessing_arithmetic():
    patch = np.zeros((1, 2, 2, 3), np.uint8)
    patch[0, 0, 0] = (255, 128, 0)
    caffe = CAFFE_VGG(patch)
    assert caffe.shape == (1, 3, 2, 2) and caffe.dtype == torch.float32
    assert caffe[0, :, 0, 0].tolist() == pytest.approx([255 - 123.68, 128 - 116.779, -103.939])
    tv = TORCHVISION(patch.astype(np.float32))
    expected = (np.array([255, 128, 0]) / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    assert tv[0, :, 0, 0].numpy() == pytest.approx(expected, rel=1e-5)
    # A mean image is resized to the input: a constant image acts as a mean colour.
    flat = Preprocessing("mean_image", mean_image=np.full((7, 5, 3), 10.0, np.float32))
    assert flat(patch)[0, :, 0, 0].tolist() == pytest.approx([245.0, 118.0, -10.0])
    # The caller's array is never modified.
    source = np.full((1, 2, 2, 3), 7.0, np.float32)
    CAFFE_VGG(source)
    assert (source == 7.0).all()
    with pytest.raises(ValueError):
        preset("bgr")


def test_preprocessing_round_trips_through_dict():
    image = np.random.default_rng(0).random((4, 6, 3)).astype(np.float32)
    prep = Preprocessing("mean_image", mean=(1, 2, 3), std=(2, 2, 2), scale=0.5, mean_image=image)
    again = Preprocessing.from_dict(prep.to_dict())
    assert again == prep and again != CAFFE_VGG
    assert isinstance(prep.to_dict()["mean_image"], torch.Tensor)


# -- where the weights come from ----------------------------------------------------------------


def test_missing_weights_message_lists_the_three_ways():
    with pytest.raises(UsageError) as err:
        load_teacher()
    message = str(err.value)
    assert "--teacher-weights" in message and ENV_VAR in message
    assert HUB_FILENAME in message and TEACHER_URL in message
    assert "\n" not in message


def test_resolution_order_argument_env_hub(tmp_path, monkeypatch, no_user_weights):
    arg = tmp_path / "arg.pth"
    env = tmp_path / "env.pth"
    hub = no_user_weights / "hub" / "checkpoints" / HUB_FILENAME
    hub.parent.mkdir(parents=True)
    for p in (arg, env, hub):
        p.write_bytes(b"x")
    monkeypatch.setenv(ENV_VAR, str(env))
    assert resolve_teacher_path(arg) == (arg, "--teacher-weights")
    assert resolve_teacher_path(None) == (env, ENV_VAR)
    monkeypatch.delenv(ENV_VAR)
    assert resolve_teacher_path(None) == (hub, "hub cache")
    hub.unlink()
    with pytest.raises(UsageError, match="no VGG16 teacher weights"):
        resolve_teacher_path(None)


def test_a_named_file_that_is_missing_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    other = tmp_path / "other.pth"
    other.write_bytes(b"x")
    monkeypatch.setenv(ENV_VAR, str(other))
    with pytest.raises(UsageError, match=r"nope\.pth: no such teacher weights file"):
        resolve_teacher_path(tmp_path / "nope.pth")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone.pth"))
    with pytest.raises(UsageError, match=ENV_VAR):
        resolve_teacher_path(None)


def test_hub_cache_file_loads_as_torchvision(vgg_state, no_user_weights):
    hub = no_user_weights / "hub" / "checkpoints" / HUB_FILENAME
    hub.parent.mkdir(parents=True)
    _save(vgg_state, hub)
    teacher = load_teacher()
    assert teacher.path == hub and teacher.source == "hub cache"
    assert teacher.preprocessing == TORCHVISION
    assert teacher.record()["sha256_prefix"] == teacher.sha256[:16]


def test_corrupt_teacher_file(tmp_path):
    path = tmp_path / "teacher.pth"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(UsageError, match="not a readable teacher weights file"):
        load_teacher(path, preprocessing="caffe")


# -- the real weights (../shared) ---------------------------------------------------------------


@pytest.mark.shared
def test_shared_teacher_gives_finite_features_of_documented_shapes():
    path = SHARED / "weights" / "vgg16_imagenet_features_fp16.pth"
    if not path.exists():
        pytest.skip(f"needs {path}")
    teacher = load_teacher(path)
    assert teacher.preprocessing == CAFFE_VGG  # known by name
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (2, 200, 200, 3), dtype=np.uint8)
    with torch.inference_mode():
        out = teacher.net(teacher.preprocessing(patches), ["pool1", "conv3_3", "conv4_3"])
    assert out["pool1"].shape == (2, 64, 100, 100)
    assert out["conv3_3"].shape == (2, 256, 50, 50)
    assert out["conv4_3"].shape == (2, 512, 25, 25)
    for feat in out.values():
        assert torch.isfinite(feat).all() and (feat >= 0).all() and feat.abs().sum() > 0
