"""The student weights file: round trip, metadata, and every way a file can be wrong."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cftrack_cli import __version__
from cftrack_cli.errors import UsageError
from cftrack_cli.nets.cf_vggm import cf_vggm_spec, load_cf_vggm
from cftrack_cli.nets.preprocessing import CAFFE_VGG, Preprocessing
from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
from cftrack_cli.nets.weights import (
    FORMAT,
    describe_student,
    load_student,
    save_student,
    state_dict_bytes,
    student_metadata,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _student(width: float = 0.125) -> StudentNet:
    torch.manual_seed(1)
    net = StudentNet(vgg16_student_spec(width)).eval()
    net.preprocessing = CAFFE_VGG
    return net


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, StudentNet]:
    net = _student()
    meta = {
        "width": 0.125,
        "teacher": {"name": "vgg16", "weights_file": "t.pth", "sha256_prefix": "ab12"},
        "training": {"settings": {"lr": 1e-3, "epochs": 2}, "data": "random init (tests)"},
        "metrics": {"fidelity": 0.5},
    }
    return save_student(tmp_path / "student.pth", net, meta), net


def _rewrite(path: Path, change) -> Path:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    change(obj)
    torch.save(obj, path)
    return path


def test_round_trip_keeps_weights_outputs_and_metadata(saved):
    path, net = saved
    loaded, meta = load_student(path)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        for name, feat in net(x).items():
            assert torch.equal(loaded(x)[name], feat)
    assert loaded.preprocessing == CAFFE_VGG and not loaded.training
    assert meta["architecture"]["spec"] == net.spec
    assert meta["width"] == 0.125
    assert meta["taps"] == [t.as_dict() for t in net.taps.values()]
    assert meta["teacher"]["sha256_prefix"] == "ab12"
    assert meta["training"]["settings"] == {"lr": 1e-3, "epochs": 2}
    assert meta["metrics"] == {"fidelity": 0.5}
    assert meta["code_version"] == __version__ and meta["created"][:2] == "20"
    assert Preprocessing.from_dict(meta["preprocessing"]) == CAFFE_VGG
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["format_version"] == 1


def test_save_is_atomic_and_checks_the_metadata(tmp_path):
    net = _student()
    save_student(tmp_path / "a.pth", net)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth"]  # no partial file left
    with pytest.raises(ValueError, match="weights-only"):
        save_student(tmp_path / "b.pth", net, {"metrics": {"curve": np.zeros(3)}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pth"]
    bare = StudentNet(vgg16_student_spec(0.125))
    with pytest.raises(ValueError, match="preprocessing"):
        save_student(tmp_path / "c.pth", bare)
    with pytest.raises(ValueError, match="preprocessing"):
        student_metadata(bare)


def test_mean_image_preprocessing_survives_the_file(tmp_path):
    net = _student()
    image = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32) * 255
    prep = Preprocessing("mean_image", mean_image=image)
    loaded, _ = load_student(save_student(tmp_path / "m.pth", net, {"preprocessing": prep}))
    assert loaded.preprocessing == prep


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such student weights file"):
        load_student(tmp_path / "nope.pth")


def test_truncated_file(saved):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="corrupt or truncated") as err:
        load_student(path)
    assert "\n" not in str(err.value)


def test_random_bytes_and_empty_files(tmp_path):
    path = tmp_path / "random.pth"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UsageError, match="not a readable student weights file"):
        load_student(path)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(UsageError, match="not a readable"):
        load_student(empty)


class _Payload:
    """Unpickling this opens (creates) a marker file: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    obj = {"format": FORMAT, "format_version": 1, "meta": _Payload(marker)}
    if writer == "torch":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(UsageError, match="not a plain weights file") as err:
        load_student(path)
    assert "io.open" in str(err.value)  # the message names what it refused
    assert not marker.exists()
    # The payload is live: an ordinary unpickle would have created the marker.
    if writer == "pickle":
        pickle.loads(path.read_bytes())
        assert marker.exists()


def test_mismatched_architecture_names_the_keys(saved):
    path, _ = saved

    def change(obj):
        state = obj["state_dict"]
        state["conv2.weight"] = torch.zeros(8, 16, 3, 3)
        del state["conv4.bias"]
        state["conv9.weight"] = torch.zeros(1)

    with pytest.raises(UsageError) as err:
        load_student(_rewrite(path, change))
    message = str(err.value)
    assert "missing conv4.bias" in message and "unexpected conv9.weight" in message
    assert "wrong shape conv2.weight (8, 16, 3, 3) vs (32, 16, 3, 3)" in message


def test_bad_architecture_record(saved):
    path, _ = saved
    _rewrite(path, lambda obj: obj["meta"]["architecture"].update(spec=[{"type": "fc"}]))
    with pytest.raises(UsageError, match="bad architecture"):
        load_student(path)


def test_format_versions(saved):
    path, _ = saved
    _rewrite(path, lambda obj: obj.update(format_version=2))
    with pytest.raises(UsageError, match="version 2 is newer"):
        load_student(path)
    _rewrite(path, lambda obj: obj.update(format_version="one"))
    with pytest.raises(UsageError, match="unknown student file format version 'one'"):
        load_student(path)


def test_other_files_are_not_students(tmp_path):
    bare = tmp_path / "bare.pth"
    torch.save(_student().state_dict(), bare)
    with pytest.raises(UsageError, match="bare state dict"):
        load_student(bare)
    other = tmp_path / "other.pth"
    torch.save({"hello": "world"}, other)
    with pytest.raises(UsageError, match="not a cftrack student weights file"):
        load_student(other)


def test_sizes_are_reported(saved):
    path, net = saved
    info = describe_student(net, (200, 200))
    assert info["parameters"] == sum(p.numel() for p in net.parameters())
    assert info["macs"] == net.macs((200, 200))
    # The weights are nearly all of the file: 4 bytes a parameter plus the container.
    assert info["weights_bytes"] >= 4 * info["parameters"]
    assert path.stat().st_size < info["weights_bytes"] + 64_000
    assert state_dict_bytes(net) == info["weights_bytes"]


def _fake_cf_vggm(tmp_path: Path) -> tuple[Path, StudentNet]:
    torch.manual_seed(2)
    net = StudentNet(cf_vggm_spec())
    obj = {
        "state_dict": net.state_dict(),
        "average_image": torch.full((224, 224, 3), 120.0),
        "meta": {"source": "test"},
    }
    path = tmp_path / "cf_vggm.pth"
    torch.save(obj, path)
    return path, net


def test_cf_vggm_format_is_recognised(tmp_path):
    path, net = _fake_cf_vggm(tmp_path)
    loaded, meta = load_student(path)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert meta["architecture"]["name"] == "cf-vggm"
    assert loaded.preprocessing.mean_image.shape == (224, 224, 3)
    assert any(t["name"] == "relu5" and t["stride"] == 16 for t in meta["taps"])


def test_cf_vggm_with_wrong_shapes(tmp_path):
    path, _ = _fake_cf_vggm(tmp_path)
    _rewrite(path, lambda obj: obj["state_dict"].update({"conv3.weight": torch.zeros(3)}))
    with pytest.raises(UsageError, match=r"wrong shape conv3\.weight"):
        load_cf_vggm(path)


@pytest.mark.shared
def test_shared_cf_vggm_loads_with_documented_strides():
    path = SHARED / "weights" / "cf_vggm_student.pth"
    if not path.exists():
        pytest.skip(f"needs {path}")
    net, meta = load_student(path)
    assert sum(p.numel() for p in net.parameters()) == 103_760
    prep = net.preprocessing
    assert prep.name == "mean_image" and prep.mean_image.shape == (224, 224, 3)
    # The average image is the ImageNet mean colour, nearly flat.
    assert prep.mean_image.mean((0, 1)) == pytest.approx([123.66, 116.77, 103.93], abs=0.1)
    rng = np.random.default_rng(0)
    sizes = {}
    for side in (224, 288):  # strides measured from how the outputs grow with the input
        patches = rng.integers(0, 256, (1, side, side, 3), dtype=np.uint8)
        with torch.inference_mode():
            out = net(prep(patches))
        assert all(torch.isfinite(v).all() for v in out.values())
        sizes[side] = {n: v.shape[2] for n, v in out.items()}
    measured = {n: 64 // (sizes[288][n] - sizes[224][n]) for n in sizes[224]}
    assert measured == {n: t.stride for n, t in net.taps.items()}
    assert measured == {
        "relu1": 2,
        "norm1": 2,
        "pool1": 4,
        "relu2": 8,
        "norm2": 8,
        "pool2": 16,
        "relu3": 16,
        "relu4": 16,
        "relu5": 16,
    }
    # The unpadded conv1 costs cells: 109 at stride 2 and 13 at stride 16 from 224 pixels.
    assert sizes[224]["norm1"] == 109 and sizes[224]["relu5"] == 13
    assert meta["taps"][-1]["offset"] == 9.5
