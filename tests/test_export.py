"""``cftrack export``: the student as ONNX, run by OpenCV's DNN module as a C++ program would."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cftrack_cli.cli import app
from cftrack_cli.export import (
    TOLERANCE,
    ExportSettings,
    opencv_engines,
    read_metadata,
    student_to_onnx,
    verify_in_opencv,
)
from cftrack_cli.nets.preprocessing import TORCHVISION
from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
from cftrack_cli.nets.weights import load_student, save_student
from conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "weights" / "cftrack_student.pth"
SAMPLE = ROOT / "samples" / "bag.avi"


def _has_onnx() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


needs_onnx = pytest.mark.skipif(not _has_onnx(), reason="needs onnx (pip install '.[export]')")


def export(*args: str):
    return CliRunner().invoke(app, ["export", *args])


def one_line_error(result) -> str:
    errors = [line for line in result.output.splitlines() if line.startswith("cftrack: error:")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return errors[0]


def bag_frame() -> np.ndarray:
    """A real frame (BGR, as cv::VideoCapture gives it): the 40th of the shipped sample."""
    cap = cv2.VideoCapture(str(SAMPLE))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 40)
    ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


@pytest.fixture(scope="module")
def shipped_onnx(tmp_path_factory) -> Path:
    if not _has_onnx():
        pytest.skip("needs onnx (pip install '.[export]')")
    out = tmp_path_factory.mktemp("export") / "student.onnx"
    result = export("--onnx", str(out))
    assert result.exit_code == 0, result.output
    assert "checked in OpenCV" in result.output and "student.onnx" in result.output
    return out


def test_opencv_runs_the_exported_student_as_pytorch_does(shipped_onnx):
    """What a C++ user does: read the file, prepare a frame from the metadata, run every tap."""
    meta = read_metadata(shipped_onnx)
    names = meta["taps"].split(",")
    mean = [float(v) for v in meta["opencv.blob_mean"].split(",")]
    scales = {float(v) for v in meta["opencv.blob_scalefactor"].split(",")}
    assert len(scales) == 1  # one scale factor: plain blobFromImage will do
    scale = scales.pop()
    dnn = cv2.dnn.readNetFromONNX(str(shipped_onnx))
    net, _ = load_student(SHIPPED)
    frame = bag_frame()
    for h, w in ((256, 256), (176, 240)):  # the free input size: not the sizes it was checked at
        crop = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        blob = cv2.dnn.blobFromImage(crop, scale, mean=mean, swapRB=True)
        dnn.setInput(blob, meta["input.name"])
        got = dict(zip(names, dnn.forward(names), strict=True))
        with torch.inference_mode():
            expected = net(net.preprocessing(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)[None]))
        assert list(expected) == names
        for name in names:
            ref = expected[name].numpy()
            assert got[name].shape == ref.shape
            peak = np.abs(ref).max()
            assert peak > 0.1  # live features: the comparison means something
            assert np.abs(got[name] - ref).max() <= TOLERANCE * peak, (name, h, w)


def test_metadata_records_the_input_and_the_taps(shipped_onnx):
    meta = read_metadata(shipped_onnx)
    net, student_meta = load_student(SHIPPED)
    taps = list(net.taps.values())
    assert meta["cftrack.format"] == "cftrack-student-onnx"
    assert meta["input.layout"] == "NCHW" and meta["input.channel_order"] == "RGB"
    assert meta["input.size"] == "dynamic"
    assert meta["taps"] == ",".join(t.name for t in taps)
    assert meta["tap.strides"] == ",".join(str(t.stride) for t in taps)
    assert meta["tap.offsets"] == ",".join("0" for _ in taps)
    assert meta["tracker_taps"] == "conv5_3"  # the layer eco-student reads
    prep = student_meta["preprocessing"]
    assert [float(v) for v in meta["preprocessing.mean"].split(",")] == pytest.approx(prep["mean"])
    assert float(meta["preprocessing.scale"]) == prep["scale"]
    assert meta["source"].startswith("cftrack_student.pth (sha256 ")
    # The file's input really is free in height and width.
    import onnx

    dims = onnx.load(str(shipped_onnx)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "height", "width"]


@needs_onnx
def test_per_channel_std_is_prepared_by_opencv_from_the_metadata():
    """torchvision-style input (three stds, 0..1 scale): the blob recipe must carry all six."""
    torch.manual_seed(0)
    net = StudentNet(vgg16_student_spec(width=0.0625))
    net.preprocessing = TORCHVISION
    model = student_to_onnx(net, ExportSettings(source="random.pth"))
    meta = read_metadata(model)
    assert len(set(meta["opencv.blob_scalefactor"].split(","))) == 3
    rgb = cv2.cvtColor(bag_frame(), cv2.COLOR_BGR2RGB)
    checks = verify_in_opencv(model, meta, net, rgb, [(128, 160)])
    engines = opencv_engines()  # OpenCV 5: the classic engine (OpenCV 4's) and the new one
    assert [(c.engine, c.tap) for c in checks] == [(e, t) for e in engines for t in net.taps]
    assert all(c.ok and c.peak > 0 for c in checks), checks


@needs_onnx
def test_fixed_input_size(tmp_path):
    out = tmp_path / "fixed.onnx"
    result = export("--onnx", str(out), "--input-size", "128x160", "-q")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert read_metadata(out)["input.size"] == "128x160"
    dnn = cv2.dnn.readNetFromONNX(str(out))
    dnn.setInput(np.zeros((1, 3, 128, 160), np.float32))
    _, meta = load_student(SHIPPED)
    channels = {tap["name"]: tap["channels"] for tap in meta["taps"]}["conv5_3"]
    assert dnn.forward("conv5_3").shape == (1, channels, 8, 10)


@needs_onnx
def test_cf_vggm_exports_with_its_mean_image_in_the_graph(tmp_path):
    weights = shared_path("weights", "cf_vggm_student.pth")
    out = tmp_path / "cf_vggm.onnx"
    result = export(str(weights), "--onnx", str(out))
    assert result.exit_code == 0, result.output
    meta = read_metadata(out)
    assert meta["input.size"] == "224x224"  # its mean image's size
    assert meta["preprocessing.mean_image"].startswith("subtracted inside the graph")
    assert meta["tracker_taps"] == "norm1,relu5" and meta["tracker_tap_pools"] == "2,1"
    assert meta["tap.offsets"].split(",")[-1] == "9.5"


@needs_onnx
def test_output_to_a_pipe_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = export("--onnx", str(fifo), "-q")
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert fifo.is_fifo()  # not replaced by a file
    assert read_metadata(received[0])["taps"]


@needs_onnx
def test_output_to_standard_output(tmp_path):
    result = CliRunner().invoke(app, ["export", "--onnx", "-", "-q"])
    assert result.exit_code == 0, result.output
    assert read_metadata(result.stdout_bytes)["cftrack.format"] == "cftrack-student-onnx"


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "student.onnx"
    out.write_bytes(b"keep me")
    result = export("--onnx", str(out))
    assert result.exit_code == 2
    assert "--overwrite" in one_line_error(result)
    assert out.read_bytes() == b"keep me"


@needs_onnx
def test_overwrite_replaces_the_file(tmp_path):
    out = tmp_path / "student.onnx"
    out.write_bytes(b"old")
    result = export("--onnx", str(out), "--overwrite", "-q")
    assert result.exit_code == 0, result.output
    assert read_metadata(out)["taps"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.onnx"]  # no partial left


@pytest.mark.parametrize(
    ("make", "args", "says"),
    [
        (lambda d: d.joinpath("junk.pth").write_bytes(b"not torch"), ["junk.pth"], "junk.pth"),
        (lambda d: None, ["missing.pth"], "no such student weights file"),
        (lambda d: d.joinpath("file").write_text("x"), ["--onnx", "file/out.onnx"], "folder"),
        (lambda d: d.joinpath("dir").mkdir(), ["--onnx", "dir"], "is a folder"),
        (lambda d: None, ["--input-size", "big"], "--input-size"),
        (lambda d: None, ["--input-size", "8"], "too small"),
        (lambda d: None, ["--frame", "nowhere.avi"], "nowhere.avi"),
    ],
)
def test_bad_input_fails_in_one_line(tmp_path, monkeypatch, make, args, says):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    full = args if "--onnx" in args else [*args, "--onnx", "out.onnx"]
    if says == "too small" and not _has_onnx():
        pytest.skip("needs onnx (the size is checked against the model)")
    result = export(*full)
    assert result.exit_code == 2, result.output
    assert says in one_line_error(result)
    assert not (tmp_path / "out.onnx").exists()


def test_missing_output_option():
    result = export()
    assert result.exit_code == 2
    assert "--onnx" in one_line_error(result)


def test_without_onnx_it_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    result = export("--onnx", str(tmp_path / "out.onnx"))
    assert result.exit_code == 1
    assert "pip install 'cftrack[export]'" in one_line_error(result)
    assert not (tmp_path / "out.onnx").exists()


@needs_onnx
def test_a_failed_check_writes_nothing(tmp_path, monkeypatch):
    import cftrack_cli.export.verify as verify

    # No difference passes a negative tolerance, not even none: on some CPUs OpenCV and
    # PyTorch agree to the last bit, so a tiny positive one would not fail for sure.
    monkeypatch.setattr(verify, "TOLERANCE", -1.0)
    out = tmp_path / "student.onnx"
    result = export("--onnx", str(out))
    assert result.exit_code == 1
    assert "differs from PyTorch" in one_line_error(result)
    assert list(tmp_path.iterdir()) == []


@needs_onnx
def test_a_student_without_tracker_taps_still_exports(tmp_path):
    net = StudentNet(vgg16_student_spec(width=0.0625, taps=("conv4_3",)))
    net.preprocessing = TORCHVISION
    weights = save_student(tmp_path / "s8.pth", net, {"preprocessing": TORCHVISION})
    out = tmp_path / "s8.onnx"
    result = export(str(weights), "--onnx", str(out), "-q")
    assert result.exit_code == 0, result.output
    meta = read_metadata(out)
    assert meta["taps"] == "conv4_3" and "tracker_taps" not in meta
