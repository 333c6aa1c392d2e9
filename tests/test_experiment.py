"""Evaluation from Python (evaluation.experiment), without the CLI."""

from __future__ import annotations

import json

import pytest

from cftrack_cli.errors import UsageError
from cftrack_cli.evaluation.experiment import Experiment
from cftrack_cli.evaluation.synthetic import write_dataset


def test_an_experiment_runs_resumes_and_reports(tmp_path):
    write_dataset(tmp_path / "ds", ("Alpha", "Beta"), frames=10, size=(64, 64))
    warnings: list[str] = []
    exp = Experiment.open(
        tmp_path / "ds", tmp_path / "results", tmp_path / "report", warn=warnings.append
    )
    assert exp.run(["dcf", "opencv-mosse"]) == []  # nothing failed
    assert sorted(p.name for p in (tmp_path / "results" / "dcf").glob("*.txt")) == [
        "Alpha.txt",
        "Beta.txt",
    ]
    jobs, skipped = exp.plan(["dcf", "opencv-mosse"])
    assert jobs == [] and len(skipped) == 4  # resumable: finished runs are kept

    rows, written = exp.report(["dcf", "opencv-mosse"])
    assert [r.name for r in rows] == ["dcf", "opencv-mosse"]
    assert all(set(r.scores) == {"Alpha", "Beta"} for r in rows)
    dcf = rows[0].overall()
    assert dcf is not None and dcf.success_auc > 0.5  # dcf follows the synthetic square
    assert {p.name for p in written} == {
        "report.json",
        "summary.md",
        "success.png",
        "precision.png",
    }
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert set(report["trackers"]) == {"dcf", "opencv-mosse"}
    assert "IoU > t" in report["conventions"]["success_auc"]
    assert warnings == []


def test_an_experiment_refuses_unknown_trackers_before_running(tmp_path):
    write_dataset(tmp_path / "ds", ("Alpha",), frames=4)
    exp = Experiment.open(tmp_path / "ds", tmp_path / "results", tmp_path / "report")
    with pytest.raises(UsageError, match="unknown tracker"):
        exp.run(["dcf", "no-such-tracker"])
    assert not (tmp_path / "results" / "dcf").exists()
