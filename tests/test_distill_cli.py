"""``cftrack distill`` end to end: outputs, bad input (one line, exit 2), Ctrl-C, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cftrack_cli.cli import app
from cftrack_cli.distill.train import read_distill_checkpoint
from cftrack_cli.nets.weights import load_student
from conftest import shared_path
from distill_helpers import make_corpus

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("distill_cli") / "corpus")


def small_args(weights: Path, corpus: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "distill", "--teacher-weights", str(weights), "--teacher-preprocessing", "caffe",
        "--data", str(corpus), "--out", str(out), "--cache-dir", str(cache),
        "--pairs", "16", "--batch-size", "8", "--crop-size", "32", "--pca-dims", "8,8",
        "--width", "0.0625", "--tracking-taps", "conv3_3", "--device", "cpu", *extra,
    ]  # fmt: skip


def one_line_error(result, fragment: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


def test_distill_writes_student_checkpoint_and_log(tmp_path, vgg_weights, corpus):
    out = tmp_path / "w" / "student.pth"
    extra = ("--epochs", "2", "--deep-convs", "2", "-q")
    result = CliRunner().invoke(app, small_args(vgg_weights, corpus, out, tmp_path / "c", *extra))
    assert result.exit_code == 0, result.stderr
    net, meta = load_student(out)
    assert meta["training"]["settings"]["deep_convs"] == 2
    assert net.tap_info("conv5_3").receptive_field == 90 + 32
    assert meta["teacher"]["weights_file"] == "random_vgg16.pth"
    assert meta["training"]["settings"]["pairs"]["crop_size"] == 32
    assert meta["training"]["data_paths"] == [str(corpus.resolve())]
    assert (tmp_path / "w" / "student.ckpt").is_file()
    events = [json.loads(line)["event"] for line in (tmp_path / "w" / "student.log.jsonl").open()]
    assert events[0] == "start" and events.count("epoch") == 2
    assert not list((tmp_path / "w").glob(".*partial"))


def test_data_given_as_several_paths_after_one_option(tmp_path, vgg_weights, corpus):
    out = tmp_path / "s.pth"
    args = small_args(vgg_weights, corpus / "images", out, tmp_path / "c", "--epochs", "1")
    args.insert(args.index("--data") + 2, str(corpus / "videos"))
    result = CliRunner().invoke(app, [*args, "-q"])
    assert result.exit_code == 0, result.stderr
    data = load_student(out)[1]["training"]["data"]
    assert data["images"] == 3 and data["videos"] == 1


@pytest.mark.parametrize(
    "change, fragment",
    [
        (["--teacher", "resnet50"], "only teacher supported is vgg16"),
        (["--width", "0"], "--width must be > 0"),
        (["--width", "-1"], "--width must be > 0"),
        (["--deep-convs", "0"], "--deep-convs must be >= 1"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--epochs", "0"], "--epochs must be >= 1"),
        (["--pairs", "4"], "--pairs (4) must be at least --batch-size (8)"),
        (["--pca-dims", "8"], "--pca-dims needs one value per fidelity tap"),
        (["--pca-dims", "8,x"], "expected comma-separated integers"),
        (["--device", "tpu"], "--device 'tpu': expected auto, cpu or cuda"),
        (["--fidelity-taps", "conv3_3:conv5_3", "--pca-dims", "8"], "same stride"),
        (["--fidelity-taps", "conv3_3:conv9_9", "--pca-dims", "8"], "no tap 'conv9_9'"),
        (["--tracking-taps", "conv9_9"], "not VGG16 taps: conv9_9"),
    ],
)
def test_bad_settings_one_line_exit_2(tmp_path, vgg_weights, corpus, change, fragment):
    args = small_args(vgg_weights, corpus, tmp_path / "o" / "s.pth", tmp_path / "c")
    result = CliRunner().invoke(app, [*args, *change, "-q"])
    one_line_error(result, fragment)
    assert not (tmp_path / "o" / "s.pth").exists()


def test_missing_teacher_weights(tmp_path, corpus, monkeypatch):
    monkeypatch.delenv("CFTRACK_TEACHER_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    base = ["distill", "--data", str(corpus), "--out", str(tmp_path / "s.pth")]
    one_line_error(
        CliRunner().invoke(app, base), "no VGG16 teacher weights: pass --teacher-weights"
    )
    result = CliRunner().invoke(app, [*base, "--teacher-weights", str(tmp_path / "nope.pth")])
    one_line_error(result, "no such teacher weights file")


def test_no_data_and_bad_output(tmp_path, vgg_weights, corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing to learn from")
    result = CliRunner().invoke(app, small_args(vgg_weights, empty, tmp_path / "s.pth", tmp_path))
    one_line_error(result, "no images, videos or sequences found")
    result = CliRunner().invoke(
        app, small_args(vgg_weights, tmp_path / "missing", tmp_path / "s.pth", tmp_path)
    )
    one_line_error(result, "no such file or folder")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    out = blocker / "sub" / "s.pth"
    one_line_error(
        CliRunner().invoke(app, small_args(vgg_weights, corpus, out, tmp_path)), "cannot create"
    )
    result = CliRunner().invoke(app, small_args(vgg_weights, corpus, tmp_path, tmp_path))
    one_line_error(result, "is a folder")
    result = CliRunner().invoke(app, ["distill", "--out", str(tmp_path / "s.pth")])
    one_line_error(result, "--data")


def test_resume_from_something_else(tmp_path, vgg_weights, corpus):
    bogus = tmp_path / "bogus.ckpt"
    torch.save({"a": torch.zeros(2)}, bogus)
    args = small_args(vgg_weights, corpus, tmp_path / "s.pth", tmp_path, "--resume", str(bogus))
    one_line_error(CliRunner().invoke(app, args), "not a cftrack distill checkpoint")
    text = tmp_path / "text.ckpt"
    text.write_text("hello")
    args = small_args(vgg_weights, corpus, tmp_path / "s.pth", tmp_path, "--resume", str(text))
    one_line_error(CliRunner().invoke(app, args), "not a readable checkpoint file")


def test_resume_says_what_differs(tmp_path, vgg_weights, corpus):
    out = tmp_path / "s.pth"
    args = small_args(vgg_weights, corpus, out, tmp_path / "c", "--epochs", "2", "-q")
    assert CliRunner().invoke(app, [*args, "--max-steps", "1"]).exit_code == 0
    ckpt = tmp_path / "s.ckpt"
    result = CliRunner().invoke(app, ["distill", "--resume", str(ckpt), "--lr", "0.5"])
    one_line_error(result, "lr 0.002 -> 0.5")
    # --resume alone takes data, teacher, output and settings from the checkpoint.
    result = CliRunner().invoke(app, ["distill", "--resume", str(ckpt), "-q"])
    assert result.exit_code == 0, result.stderr
    assert read_distill_checkpoint(ckpt)["step"] == 4 and out.is_file()


def test_ctrl_c_saves_a_checkpoint_then_resume(tmp_path, vgg_weights, corpus):
    out = tmp_path / "s.pth"
    args = small_args(
        vgg_weights, corpus, out, tmp_path / "c", "--epochs", "400", "--log-every", "1"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cftrack_cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    log = tmp_path / "s.log.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log.is_file() and '"step"' in log.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
    ckpt = read_distill_checkpoint(tmp_path / "s.ckpt")
    stopped_at = ckpt["step"]
    assert 0 < stopped_at < 800
    result = CliRunner().invoke(
        app, ["distill", "--resume", str(tmp_path / "s.ckpt"), "--max-steps", str(stopped_at + 3)]
    )
    assert result.exit_code == 0, result.stderr
    assert "stopped after" in result.stderr
    assert read_distill_checkpoint(tmp_path / "s.ckpt")["step"] == stopped_at + 3


@pytest.mark.shared
def test_real_teacher_short_run(tmp_path, corpus):
    weights = shared_path("weights", "vgg16_imagenet_features_fp16.pth")
    out = tmp_path / "s.pth"
    args = ["distill", "--teacher-weights", str(weights), "--data", str(corpus), "--out",
            str(out), "--cache-dir", str(tmp_path / "c"), "--pairs", "16", "--batch-size", "8",
            "--crop-size", "64", "--epochs", "1", "-q"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    _net, meta = load_student(out)
    assert meta["teacher"]["preprocessing"] == "caffe" and meta["width"] == 0.125
    assert out.stat().st_size < 2_000_000
