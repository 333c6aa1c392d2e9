"""``cftrack bench``: pinning, interleaved timing, the table and the JSON."""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from cftrack_cli.bench import pin_to_cores, time_trackers
from cftrack_cli.boxes import Box
from cftrack_cli.cli import app
from cftrack_cli.errors import UsageError
from cftrack_cli.trackers import create_tracker


@pytest.fixture(autouse=True)
def restore_pinning():
    """The bench command pins its process; give the rest of the test session its cores back."""
    import cv2
    import torch

    cores, threads, cv_threads = (
        os.sched_getaffinity(0),
        torch.get_num_threads(),
        cv2.getNumThreads(),
    )
    saved_env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    yield
    os.sched_setaffinity(0, cores)
    torch.set_num_threads(threads)
    cv2.setNumThreads(cv_threads)
    for k, v in saved_env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_pinning_more_cores_than_exist_is_refused():
    with pytest.raises(UsageError, match="cores"):
        pin_to_cores(len(os.sched_getaffinity(0)) + 1)


def test_time_trackers_interleaves_and_splits_stages(square_clip):
    frames, boxes = square_clip
    order = []
    timings = time_trackers(
        {
            "dcf": lambda: create_tracker("dcf"),
            "opencv-mosse": lambda: create_tracker("opencv-mosse"),
        },
        frames[:12],
        Box(*boxes[0]),
        repeats=2,
        on_step=lambda name, r: order.append((name, r)),
    )
    assert order == [("dcf", 0), ("opencv-mosse", 0), ("dcf", 1), ("opencv-mosse", 1)]
    dcf = timings["dcf"].as_dict()
    assert dcf["frames"] == 11 and dcf["repeats"] == 2
    assert {"features", "fft", "detect", "scale", "other"} <= set(dcf["stages_ms"])
    # The stages account for the frame time, no more.
    assert sum(dcf["stages_ms"].values()) == pytest.approx(dcf["ms_per_frame"], rel=0.35)
    assert dcf["fps"] > 0 and dcf["peak_rss_mb"] > 0


def test_bench_command_writes_table_and_json(tmp_path, square_folder):
    folder, boxes = square_folder
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["bench", "--cpu-cores", "1", "-t", "dcf,opencv-kcf", "--sequence", str(folder),
         "--box", ",".join(str(v) for v in boxes[0]), "--frames", "10", "--repeats", "1",
         "--json", str(out), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dcf" in result.stdout and "opencv-kcf" in result.stdout
    report = json.loads(out.read_text())
    assert set(report["trackers"]) == {"dcf", "opencv-kcf"}
    assert report["machine"]["cores_used"] and report["frames"] == 10
    # The host beside the figures (read before timing).
    assert {"vector_flags", "last_level_cache", "load_average"} <= set(report["machine"])
    assert isinstance(report["machine"]["vector_flags"], list)
    assert report["baseline"] in report["trackers"]
    fps = [report["trackers"][n]["fps"] for n in report["trackers"]]
    assert all(np.isfinite(fps))


def test_bench_needs_a_box_without_ground_truth(tmp_path, square_folder):
    folder, _ = square_folder
    result = CliRunner().invoke(app, ["bench", "-t", "dcf", "--sequence", str(folder), "-q"])
    assert result.exit_code == 2
    assert "--box" in result.output


@pytest.mark.parametrize(
    ("trackers", "says"),
    [("nope", "unknown tracker"), ("dcf,opencv-vit", "--peer-models")],  # no model files
)
def test_bench_named_tracker_unknown_or_without_its_files(
    monkeypatch, square_folder, trackers, says
):
    monkeypatch.delenv("CFTRACK_PEER_MODELS", raising=False)
    folder, _ = square_folder
    result = CliRunner().invoke(
        app, ["bench", "-t", trackers, "--sequence", str(folder), "--box", "1,1,5,5"]
    )
    assert result.exit_code == 2
    assert says in result.output


def test_networks_mode_times_the_cnn_alone(tmp_path, square_folder):
    import torch

    from cftrack_cli.nets.preprocessing import CAFFE_VGG
    from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
    from cftrack_cli.nets.weights import save_student

    torch.manual_seed(0)
    student = save_student(
        tmp_path / "s.pth", StudentNet(vgg16_student_spec(0.125)), {"preprocessing": CAFFE_VGG}
    )
    folder, boxes = square_folder
    out = tmp_path / "nets.json"
    result = CliRunner().invoke(
        app,
        ["bench", "--networks", "-t", f"dcf,eco-student@{student}", "--sequence", str(folder),
         "--box", ",".join(str(v) for v in boxes[0]), "--frames", "2", "--json", str(out), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    nets = json.loads(out.read_text())["networks"]
    assert list(nets) == ["eco-student@s"]  # dcf has no network
    entry = nets["eco-student@s"]
    assert entry["ms"] > 0 and entry["parameters"] > 10_000 and entry["macs"] > 1e6
    assert entry["file_bytes"] == student.stat().st_size
    assert entry["taps"] == ["conv5_3"]  # the layer eco-student reads


def test_bench_with_no_arguments_times_what_is_available(tmp_path, monkeypatch):
    """A fresh machine: no VGG16 weights, no peer models, run from an empty folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("CFTRACK_TEACHER_WEIGHTS", "CFTRACK_PEER_MODELS"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "bench.json"
    # --frames/--repeats only keep the test short; the clip and the trackers are the defaults.
    result = CliRunner().invoke(
        app, ["bench", "--cpu-cores", "1", "--frames", "4", "--repeats", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["sequence"].endswith("bag.avi")
    timed = set(report["trackers"])
    assert {"eco-student", "dcf", "opencv-csrt"} <= timed
    assert not timed & {"eco-teacher", "opencv-nano", "opencv-vit"}
    skipped = [line for line in result.output.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and all(
        n in skipped[0] for n in ("eco-teacher", "opencv-nano", "opencv-vit")
    )
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_bench_default_list_does_not_skip_a_folder_the_user_gave(tmp_path, square_folder):
    folder, _ = square_folder
    result = CliRunner().invoke(
        app,
        ["bench", "--peer-models", str(tmp_path / "absent"), "--sequence", str(folder),
         "--box", "1,1,5,5"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no such folder" in result.output


def test_bench_times_the_deep_peers_beside_ours(tmp_path, square_folder):
    from conftest import shared_path

    peers = shared_path("weights", "peers")
    folder, boxes = square_folder
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["bench", "-t", "opencv-nano,opencv-vit,dcf", "--peer-models", str(peers),
         "--sequence", str(folder), "--box", ",".join(str(v) for v in boxes[0]),
         "--frames", "6", "--repeats", "1", "--json", str(out), "-q"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    vit = json.loads(out.read_text())["trackers"]["opencv-vit"]
    assert vit["fps"] > 0 and "configuration" in vit and len(vit["stdvalue"]) == 4
    assert "note: opencv-vit:" in result.output


def test_machine_description_reads_model_extensions_and_cache(tmp_path):
    """Two hosts with one model name told apart by their extensions and cache."""
    from cftrack_cli.machine import describe_machine, last_level_cache, read_cpuinfo

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n"
        "flags\t\t: fpu sse2 avx2 avx512f amx_tile avx512bw\n\n"
        "processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu\n"
    )
    assert read_cpuinfo(cpuinfo) == ("Intel(R) Xeon(R) Processor", ["avx2", "avx512f", "amx_tile"])
    assert read_cpuinfo(tmp_path / "absent") == ("", [])
    cpuinfo.write_text("model name\t: Old\nflags\t\t: fpu sse2\n\nflags\t\t: avx2\n")
    assert read_cpuinfo(cpuinfo) == ("Old", [])  # the first CPU's flags, none of ours
    for index, (level, size) in enumerate([(1, "48K"), (3, "491520K"), (2, "2048K")]):
        entry = tmp_path / "cpu" / "cpu1" / "cache" / f"index{index}"
        entry.mkdir(parents=True)
        (entry / "level").write_text(f"{level}\n")
        (entry / "size").write_text(f"{size}\n")
    assert last_level_cache(1, tmp_path / "cpu") == "491520K"
    assert last_level_cache(0, tmp_path / "cpu") == ""  # no such CPU there
    line = describe_machine(
        {"cpu": "X", "vector_flags": ["avx2"], "last_level_cache": "8192K", "load_average": 1.5}
    )
    assert line == "X (avx2; cache 8 MiB; load 1.50)"
    assert describe_machine({"cpu": "X", "vector_flags": [], "last_level_cache": ""}) == "X"
    assert describe_machine({"cpu": "X", "last_level_cache": "512K"}) == "X (cache 512K)"
