"""``cftrack eval`` end to end on tiny synthetic datasets: outputs, resume, shards, errors, Ctrl-C.

No test asserts what a tracker scores: report numbers are checked against an independent
recomputation from the result files, and ground-truth rows against the 20/21 convention.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cftrack_cli.boxes import Box
from cftrack_cli.cli import app
from cftrack_cli.evaluation.datasets import find_dataset
from cftrack_cli.evaluation.results import ResultFolder
from cftrack_cli.evaluation.runner import Job, plan_jobs, run_job, run_jobs
from cftrack_cli.evaluation.synthetic import write_dataset
from cftrack_cli.trackers import registry
from cftrack_cli.trackers.base import Tracker, TrackResult

SRC = Path(__file__).resolve().parents[1] / "src"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FAST = "opencv-mosse,opencv-kcf"


class _Broken(Tracker):
    """Fails on every update (registered only inside the test that uses it)."""

    def _init(self, frame: np.ndarray, box: Box) -> None:
        self.box = box

    def _update(self, frame: np.ndarray) -> TrackResult:
        raise RuntimeError("boom")


def _invoke(*args: str):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "cftrack_cli", "eval", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **kw,
    )


def _otb_auc_p20(result_file: Path, gt_file: Path) -> tuple[float, float]:
    """Independent OTB success AUC and precision@20 from two 1-based box files (numpy only)."""
    pred = np.genfromtxt(result_file, delimiter=",")
    gt = np.genfromtxt(gt_file, delimiter=",")
    pred = pred.reshape(-1, 4)[: len(gt)]
    ok = np.isfinite(gt).all(1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    pred, gt = pred[ok], gt[ok]
    x1 = np.maximum(pred[:, 0], gt[:, 0])
    y1 = np.maximum(pred[:, 1], gt[:, 1])
    x2 = np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2])
    y2 = np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    iou = np.nan_to_num(inter / (pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter))
    iou = np.minimum(iou, 1.0)
    auc = np.mean([np.mean(iou > t) for t in np.arange(21) * 0.05])
    d = (pred[:, :2] + pred[:, 2:] / 2) - (gt[:, :2] + gt[:, 2:] / 2)
    err = np.nan_to_num(np.hypot(d[:, 0], d[:, 1]), nan=np.inf)
    return float(auc), float(np.mean(err <= 20))


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "ds"
    write_dataset(root, ("Alpha", "Beta", "Gamma"), frames=12, size=(64, 64))
    (root / "attributes.json").write_text(json.dumps({"Alpha": ["IV", "SV"], "Beta": ["SV"]}))
    return root


def _extras(tmp_path: Path, dataset: Path) -> Path:
    """An external results folder: ground truth as a 'tracker', and one covering one sequence."""
    extra = tmp_path / "published"
    for seq in ("Alpha", "Beta", "Gamma"):
        (extra / "GT").mkdir(parents=True, exist_ok=True)
        shutil.copy(dataset / seq / "groundtruth_rect.txt", extra / "GT" / f"{seq}.txt")
    (extra / "Partial").mkdir()
    shutil.copy(dataset / "Beta" / "groundtruth_rect.txt", extra / "Partial" / "Beta.txt")
    (extra / "README.md").write_text("not a tracker")
    return extra


def test_help_teaches_the_conventions():
    result = CliRunner().invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    for text in ("20/21", "--shard", "--report-only", "--extra-results", "Example"):
        assert text in result.stdout


def test_end_to_end_report(tmp_path, dataset):
    extra = _extras(tmp_path, dataset)
    res, rep = tmp_path / "res", tmp_path / "rep"
    result = _invoke(dataset, "-t", FAST, "--results-dir", res, "--report-dir", rep,
                     "--extra-results", extra)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    for name in ("report.json", "summary.md", "success.png", "precision.png"):
        assert (rep / name).stat().st_size > 0
    assert (rep / "success.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for tracker in FAST.split(","):
        for seq in ("Alpha", "Beta", "Gamma"):
            assert len((res / tracker / f"{seq}.txt").read_text().splitlines()) == 12
            times = (res / tracker / "times" / f"{seq}_time.txt").read_text().split()
            assert len(times) == 12 and all(float(t) >= 0 for t in times)

    report = json.loads((rep / "report.json").read_text())
    rows = report["trackers"]
    assert set(rows) == {"opencv-mosse", "opencv-kcf", "GT", "Partial"}
    keys = {"success_auc", "precision_20", "norm_precision", "success_50", "fps"}
    for row in rows.values():
        assert keys <= set(row["overall"])
        for seq_numbers in row["sequences"].values():
            assert keys <= set(seq_numbers)
        assert row["sequences_covered"] == len(row["sequences"])
        assert set(row["attributes"]) == {"IV", "SV"}
    assert rows["GT"]["overall"]["success_auc"] == pytest.approx(20 / 21, abs=1e-6)
    assert rows["GT"]["overall"]["precision_20"] == 1.0
    assert rows["GT"]["overall"]["fps"] is None
    assert rows["Partial"]["sequences_covered"] == 1
    assert rows["opencv-kcf"]["overall"]["fps"] > 0
    assert report["common"]["sequences"] == ["Beta"]

    # the numbers match an independent recomputation from the files
    for tracker in FAST.split(","):
        aucs, p20s = [], []
        for seq in ("Alpha", "Beta", "Gamma"):
            auc, p20 = _otb_auc_p20(
                res / tracker / f"{seq}.txt", dataset / seq / "groundtruth_rect.txt"
            )
            assert rows[tracker]["sequences"][seq]["success_auc"] == pytest.approx(auc, abs=1e-6)
            aucs.append(auc)
            p20s.append(p20)
        assert rows[tracker]["overall"]["success_auc"] == pytest.approx(np.mean(aucs), abs=1e-6)
        assert rows[tracker]["overall"]["precision_20"] == pytest.approx(np.mean(p20s), abs=1e-6)

    summary = (rep / "summary.md").read_text()
    assert "common to all rows" in summary and "per attribute" in summary
    assert "IoU **>** t" in summary
    assert "opencv-kcf" in result.stdout  # the terminal table


def test_second_run_skips_and_force_reruns(tmp_path, dataset):
    args = [dataset, "-t", "opencv-kcf", "--results-dir", tmp_path / "r", "--report-dir",
            tmp_path / "p"]  # fmt: skip
    assert _invoke(*args).exit_code == 0
    files = sorted((tmp_path / "r" / "opencv-kcf").rglob("*.txt"))
    stamps = [f.stat().st_mtime_ns for f in files]
    first = json.loads((tmp_path / "p" / "report.json").read_text())
    time.sleep(0.02)
    again = _invoke(*args)
    assert again.exit_code == 0
    assert "0 tracker-sequence runs to do, 3 already done" in again.stderr
    assert [f.stat().st_mtime_ns for f in files] == stamps
    second = json.loads((tmp_path / "p" / "report.json").read_text())
    assert first["trackers"] == second["trackers"]
    forced = _invoke(*args, "--force")
    assert forced.exit_code == 0 and "3 tracker-sequence runs to do" in forced.stderr
    assert [f.stat().st_mtime_ns for f in files] != stamps


def test_incomplete_result_file_is_rerun(tmp_path, dataset):
    res = tmp_path / "r"
    assert (
        _invoke(
            dataset, "-t", "opencv-kcf", "--results-dir", res, "--report-dir", tmp_path / "p"
        ).exit_code
        == 0
    )
    path = res / "opencv-kcf" / "Beta.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:5]) + "\n")
    again = _invoke(
        dataset, "-t", "opencv-kcf", "--results-dir", res, "--report-dir", tmp_path / "p"
    )
    assert "1 tracker-sequence runs to do" in again.stderr
    assert len(path.read_text().splitlines()) == 12


def test_report_only_merges_what_the_results_folder_holds(tmp_path, dataset):
    res, rep = tmp_path / "r", tmp_path / "p"
    assert _invoke(dataset, "-t", FAST, "--results-dir", res, "--report-dir", rep).exit_code == 0
    before = json.loads((rep / "report.json").read_text())["trackers"]
    shutil.rmtree(rep)
    only = _invoke(dataset, "--report-only", "--results-dir", res, "--report-dir", rep)
    assert only.exit_code == 0, only.stderr
    after = json.loads((rep / "report.json").read_text())["trackers"]
    assert after == before
    one = _invoke(dataset, "--report-only", "-t", "opencv-kcf", "--results-dir", res,
                  "--report-dir", rep)  # fmt: skip
    assert one.exit_code == 0
    assert set(json.loads((rep / "report.json").read_text())["trackers"]) == {"opencv-kcf"}
    missing = _invoke(dataset, "--report-only", "-t", "dcf", "--results-dir", res,
                      "--report-dir", rep)  # fmt: skip
    assert missing.exit_code == 2 and "no results for dcf" in missing.stderr


def test_shards_split_the_work_and_report_only_merges(tmp_path, dataset):
    res, rep = tmp_path / "r", tmp_path / "p"
    one = _invoke(dataset, "-t", "opencv-kcf", "--shard", "1/2", "--results-dir", res,
                  "--report-dir", rep)  # fmt: skip
    assert one.exit_code == 0, one.stderr
    assert sorted(p.name for p in (res / "opencv-kcf").glob("*.txt")) == ["Beta.txt"]
    assert not rep.exists()  # a shard writes no report
    assert (
        _invoke(dataset, "-t", "opencv-kcf", "--shard", "0/2", "--results-dir", res).exit_code == 0
    )
    assert sorted(p.name for p in (res / "opencv-kcf").glob("*.txt")) == [
        "Alpha.txt",
        "Beta.txt",
        "Gamma.txt",
    ]
    merged = _invoke(dataset, "--report-only", "--results-dir", res, "--report-dir", rep)
    assert merged.exit_code == 0
    report = json.loads((rep / "report.json").read_text())
    assert report["trackers"]["opencv-kcf"]["sequences_covered"] == 3


def test_sequences_option_limits_the_run(tmp_path, dataset):
    res = tmp_path / "r"
    out = _invoke(dataset, "-t", "opencv-kcf", "--sequences", "Gamma", "--results-dir", res,
                  "--report-dir", tmp_path / "p")  # fmt: skip
    assert out.exit_code == 0
    assert [p.name for p in (res / "opencv-kcf").glob("*.txt")] == ["Gamma.txt"]
    report = json.loads((tmp_path / "p" / "report.json").read_text())
    assert report["dataset"]["sequences"] == ["Gamma"]


def test_a_failing_tracker_is_reported_and_the_rest_finishes(tmp_path, dataset, monkeypatch):
    spec = registry.TrackerSpec("test-broken", _Broken, "fails on every update")
    monkeypatch.setitem(registry._REGISTRY, "test-broken", spec)
    res, rep = tmp_path / "r", tmp_path / "p"
    out = _invoke(
        dataset, "-t", "test-broken,opencv-kcf", "--results-dir", res, "--report-dir", rep
    )
    assert out.exit_code == 1
    assert "test-broken on Alpha: internal error: RuntimeError: boom" in out.stderr
    assert "3 run(s) failed" in out.stderr and "Traceback" not in out.stderr
    assert len(list((res / "opencv-kcf").glob("*.txt"))) == 3
    assert not list(res.glob("test-broken/*.txt"))
    report = json.loads((rep / "report.json").read_text())
    assert report["trackers"]["test-broken"]["sequences_covered"] == 0


def test_tracker_starts_at_the_first_frame_with_a_box(tmp_path):
    root = tmp_path / "ds"
    write_dataset(root, ("Late",), frames=8)
    gt_file = root / "Late" / "groundtruth_rect.txt"
    lines = gt_file.read_text().splitlines()
    gt_file.write_text("\n".join(["NaN,NaN,NaN,NaN", "0,0,0,0", *lines[2:]]) + "\n")
    seq = find_dataset(root).sequences[0]
    result = run_job(Job("opencv-kcf", seq, tmp_path / "r"))
    assert result.error is None and result.frames == 6
    boxes = ResultFolder(tmp_path / "r").read_boxes("opencv-kcf", "Late")
    assert len(boxes) == 8 and np.isnan(boxes[:2]).all()
    np.testing.assert_allclose(boxes[2], seq.groundtruth[2])


def test_interrupt_in_process_keeps_only_complete_files(tmp_path, dataset):
    seqs = list(find_dataset(dataset).sequences)
    store = ResultFolder(tmp_path / "r")
    jobs, _ = plan_jobs(seqs, ["opencv-kcf"], store)
    seen = 0

    def on_frames(n: int) -> None:
        nonlocal seen
        seen += n
        if seen > 12 + 6:  # mid-way through the second sequence
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, 1, on_frames)
    assert store.is_done("opencv-kcf", "Alpha", 12)
    assert not store.boxes_path("opencv-kcf", "Beta").exists()
    assert not list((tmp_path / "r").rglob("*partial*"))
    todo, done = plan_jobs(seqs, ["opencv-kcf"], store)
    assert done == [("opencv-kcf", "Alpha")] and [j.sequence.name for j in todo] == [
        "Beta",
        "Gamma",
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_exits_130_and_a_rerun_completes(tmp_path, workers):
    root = tmp_path / "ds"
    # Enough sequences that the interrupt lands mid-run even on a fast, quiet machine.
    n = 16
    write_dataset(root, tuple(f"S{i}" for i in range(n)), frames=40, size=(80, 80))
    res, rep = tmp_path / "r", tmp_path / "p"
    args = [root, "-t", "opencv-csrt", "--workers", workers, "--results-dir", res,
            "--report-dir", rep]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cftrack_cli", "eval", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not list(res.glob("opencv-csrt/S*.txt")) and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert not list(res.rglob("*partial*"))
    done = list(res.glob("opencv-csrt/S*.txt"))
    assert 1 <= len(done) < n
    for path in done:
        assert len(path.read_text().splitlines()) == 40
    again = _cli(*args)
    assert again.returncode == 0, again.stderr
    assert f"{n - len(done)} tracker-sequence runs to do, {len(done)} already done" in again.stderr
    report = json.loads((rep / "report.json").read_text())
    for seq in (f"S{i}" for i in range(n)):
        auc, _ = _otb_auc_p20(
            res / "opencv-csrt" / f"{seq}.txt", root / seq / "groundtruth_rect.txt"
        )
        numbers = report["trackers"]["opencv-csrt"]["sequences"][seq]
        assert numbers["success_auc"] == pytest.approx(auc, abs=1e-6)


def test_parallel_workers_write_the_same_layout(tmp_path, dataset):
    out = _cli(dataset, "-t", FAST, "--workers", "2", "--results-dir", tmp_path / "r",
               "--report-dir", tmp_path / "p")  # fmt: skip
    assert out.returncode == 0, out.stderr
    for tracker in FAST.split(","):
        for seq in ("Alpha", "Beta", "Gamma"):
            assert ResultFolder(tmp_path / "r").is_done(tracker, seq, 12)
    assert "Traceback" not in out.stderr


def _bad_cases(tmp_path: Path, dataset: Path) -> dict[str, list]:
    bad_gt = tmp_path / "badgt"
    write_dataset(bad_gt, ("A",), frames=3)
    (bad_gt / "A" / "groundtruth_rect.txt").write_text("1,2,3,4\n1,2,x,4\n1,2,3,4\n")
    (tmp_path / "empty").mkdir()
    common = ["--results-dir", tmp_path / "r", "--report-dir", tmp_path / "p"]
    return {
        "missing dataset": [tmp_path / "nope", "-t", "opencv-kcf", *common],
        "no sequences": [tmp_path / "empty", "-t", "opencv-kcf", *common],
        "unknown tracker": [dataset, "-t", "opencv-kcf,nosuch", *common],
        "no trackers": [dataset, *common],
        "bad shard": [dataset, "-t", "opencv-kcf", "--shard", "2/2", *common],
        "bad shard text": [dataset, "-t", "opencv-kcf", "--shard", "half", *common],
        "unreadable ground truth": [bad_gt, "-t", "opencv-kcf", *common],
        "unknown sequence": [dataset, "-t", "opencv-kcf", "--sequences", "Zeta", *common],
        "missing extras": [dataset, "-t", "opencv-kcf", "--extra-results", tmp_path / "x", *common],
        "empty extras": [
            dataset,
            "-t",
            "opencv-kcf",
            "--extra-results",
            tmp_path / "empty",
            *common,
        ],
        "report-only with nothing": [dataset, "--report-only", *common],
        "report-only and force": [dataset, "--report-only", "--force", *common],
    }


def test_bad_inputs_give_one_line_and_exit_2(tmp_path, dataset):
    for name, args in _bad_cases(tmp_path, dataset).items():
        out = _invoke(*args)
        assert out.exit_code == 2, (name, out.stderr, out.exception)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cftrack: error:"), (name, out.stderr)
        assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("*.txt")), name


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    out = _cli(tmp_path / "nope", "-t", "opencv-kcf")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"cftrack: error: {tmp_path / 'nope'}: no such dataset folder"
    ]


@pytest.mark.shared
def test_published_results_scored_as_an_independent_recomputation(tmp_path):
    data, published = SHARED / "data" / "sequences", SHARED / "published_results"
    if not (data.is_dir() and published.is_dir()):
        pytest.skip("../shared is not here")
    rep = tmp_path / "p"
    out = _invoke(data, "--extra-results", published, "--results-dir", tmp_path / "r",
                  "--report-dir", rep, "-q")  # fmt: skip
    assert out.exit_code == 0, out.stderr
    rows = json.loads((rep / "report.json").read_text())["trackers"]
    for tracker in ("ECO", "KCF", "SiamFC"):
        aucs = []
        for seq, numbers in rows[tracker]["sequences"].items():
            auc, p20 = _otb_auc_p20(
                published / tracker / f"{seq}.txt", data / seq / "groundtruth_rect.txt"
            )
            assert numbers["success_auc"] == pytest.approx(auc, abs=1e-6)
            assert numbers["precision_20"] == pytest.approx(p20, abs=1e-6)
            aucs.append(auc)
        assert rows[tracker]["overall"]["success_auc"] == pytest.approx(np.mean(aucs), abs=1e-6)
        assert rows[tracker]["overall"]["fps"] is None


def test_scores_and_lost_flags_reach_the_report(tmp_path):
    data = tmp_path / "data"
    write_dataset(data, ("Solo",), frames=15, size=(96, 96))
    results, report = tmp_path / "res", tmp_path / "rep"
    result = _invoke(data, "-t", "eco-hc,dcf", "--results-dir", results, "--report-dir", report)
    assert result.exit_code == 0, result.output
    folder = ResultFolder(results)
    seq = "Solo"
    scores, lost = folder.read_scores("eco-hc", seq)
    assert len(scores) == 15 and lost is not None
    assert folder.read_scores("dcf", seq)[1] is None  # dcf has no lost flag
    trackers = json.loads((report / "report.json").read_text())["trackers"]
    assert trackers["dcf"]["failure_detection"]["lost_frames"] is None
    assert trackers["eco-hc"]["failure_detection"]["lost_frames"] is not None
    assert "Failure detection" in (report / "summary.md").read_text()


def test_stopping_the_workers_survives_a_torn_message_queue():
    """Ctrl-C can land while the parent reads a worker's message: what is left in the queue may
    not unpickle, and reading it while stopping must not turn the interrupt into a crash."""
    from cftrack_cli.evaluation.runner import _stop_workers

    calls = []

    class Pool:
        def shutdown(self, wait: bool, cancel_futures: bool = False) -> None:
            calls.append((wait, cancel_futures))

    def torn_queue() -> None:
        raise EOFError("Ran out of input")

    _stop_workers(Pool(), torn_queue, pids=set())
    assert calls == [(False, True), (True, False)]  # cancelled, then waited for


def test_the_report_says_which_machine_tracked_the_results(tmp_path, dataset):
    from cftrack_cli.machine import arithmetic_basis, describe_basis

    res, rep = tmp_path / "r", tmp_path / "p"
    ran = _invoke(dataset, "-t", "opencv-kcf", "--results-dir", res, "--report-dir", rep)
    assert ran.exit_code == 0, ran.stderr
    here = arithmetic_basis()
    assert ResultFolder(res).read_machine("opencv-kcf", "Alpha") == here
    report = json.loads((rep / "report.json").read_text())
    assert report["machines"] == [{**here, "results": 3}]
    entry = report["trackers"]["opencv-kcf"]["machines"]
    assert entry == [{**here, "sequences": ["Alpha", "Beta", "Gamma"]}]
    assert f"Tracked on {describe_basis(here)}." in (rep / "summary.md").read_text()
    assert "machines or library sets" not in ran.stderr

    # One sequence tracked elsewhere (a run resumed on another host, or with another OpenCV).
    other = {**here, "opencv": "0.0.1"}
    record = ResultFolder(res).machine_path("opencv-kcf", "Beta")
    record.write_text(json.dumps(other))
    (res / "opencv-kcf" / "machine" / "Gamma.json").unlink()  # results from before the record
    again = _invoke(dataset, "--report-only", "--results-dir", res, "--report-dir", rep)
    assert again.exit_code == 0, again.stderr
    assert "tracked on 2 machines or library sets" in again.stderr
    report = json.loads((rep / "report.json").read_text())
    assert report["machines"] == [{**here, "results": 1}, {**other, "results": 1}]
    summary = (rep / "summary.md").read_text()
    assert f"- {describe_basis(other)}: 1 result\n" in summary
    assert "\n1 result without a record of the machine" in summary

    # Rerunning a sequence replaces its record with this machine's.
    forced = _invoke(dataset, "-t", "opencv-kcf", "--force", "--sequences", "Beta",
                     "--results-dir", res, "--report-dir", rep)  # fmt: skip
    assert forced.exit_code == 0, forced.stderr
    assert ResultFolder(res).read_machine("opencv-kcf", "Beta") == here


def test_results_written_without_a_machine_drop_a_stale_record(tmp_path):
    folder = ResultFolder(tmp_path)
    boxes, seconds = [[1.0, 2.0, 3.0, 4.0]], [0.01]
    folder.write("t", "S", boxes, seconds, machine={"cpu": "X"})
    assert folder.read_machine("t", "S") == {"cpu": "X"}
    folder.write("t", "S", boxes, seconds)
    assert folder.read_machine("t", "S") is None
    folder.machine_path("t", "S").write_text("not json")
    assert folder.read_machine("t", "S") is None
