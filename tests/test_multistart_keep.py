"""benchmarks/multistart.py --keep: finished runs are kept and reused, so a killed benchmark
continues instead of starting again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cftrack_cli.evaluation.synthetic import write_dataset
from cftrack_cli.machine import describe_basis
from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "multistart.py"


@pytest.fixture(scope="module")
def multistart():
    yield load_script(SCRIPT, "bench_multistart")
    sys.modules.pop("bench_multistart", None)


def test_kept_runs_are_written_and_reused(multistart, tmp_path: Path) -> None:
    data, keep = tmp_path / "data", tmp_path / "keep"
    write_dataset(data, ("Alpha", "Beta"), frames=8, size=(64, 64))
    args = [str(data), "-t", "dcf", "--starts", "2", "--workers", "1", "--keep", str(keep)]
    first = tmp_path / "first.json"
    assert multistart.main([*args, "--json", str(first)]) == 0
    kept = sorted(p.name for p in (keep / "dcf").iterdir())
    assert kept == [f"{s}.start{k}.json" for s in ("Alpha", "Beta") for k in (0, 1)]
    written = json.loads(first.read_text())
    per_seq = written["trackers"]["dcf"]["sequences"]
    assert written["kept_runs_from_elsewhere"] == {}
    # A kept figure is taken as it is: change one and the next report shows it. Runs kept
    # without the machine that made them (or from another) are counted as from elsewhere.
    (keep / "dcf" / "Alpha.start0.json").write_text(json.dumps({"success_auc": 0.0}))
    record = json.loads((keep / "dcf" / "Alpha.start1.json").read_text())
    other = {**record["machine"], "numpy": "0.0.1"}
    (keep / "dcf" / "Alpha.start1.json").write_text(
        json.dumps({"success_auc": 0.0, "machine": other})
    )
    second = tmp_path / "second.json"
    assert multistart.main([*args, "--json", str(second)]) == 0
    written = json.loads(second.read_text())
    again = written["trackers"]["dcf"]["sequences"]
    assert again["Alpha"] == 0.0 and per_seq["Alpha"] > 0.0
    assert again["Beta"] == per_seq["Beta"]
    elsewhere = written["kept_runs_from_elsewhere"]
    assert elsewhere == {"no record of the machine": 1, describe_basis(other): 1}


def test_a_second_tracker_is_compared_start_by_start_with_the_first(multistart, tmp_path) -> None:
    data, keep = tmp_path / "data", tmp_path / "keep"
    write_dataset(data, ("Alpha", "Beta"), frames=8, size=(64, 64))
    for tracker, base in (("dcf", 0.5), ("eco-hc", 0.6)):
        (keep / tracker).mkdir(parents=True)
        for k in range(3):
            for s, extra in (("Alpha", 0.0), ("Beta", 0.1)):
                value = base + extra + (0.05 * k if tracker == "eco-hc" else 0.0)
                kept = keep / tracker / f"{s}.start{k}.json"
                kept.write_text(json.dumps({"success_auc": value}))
    out = tmp_path / "out.json"
    args = [str(data), "-t", "dcf,eco-hc", "--starts", "3", "--keep", str(keep), "--json", str(out)]
    assert multistart.main(args) == 0
    report = json.loads(out.read_text())["trackers"]
    paired = report["eco-hc"]["paired_with_first"]
    assert paired["tracker"] == "dcf" and "paired_with_first" not in report["dcf"]
    assert paired["per_start"] == pytest.approx([0.1, 0.15, 0.2])
    assert paired["difference"] == pytest.approx(0.15)
    assert paired["standard_error"] == pytest.approx(0.05 / 3**0.5)


def test_the_report_says_which_host_and_libraries_ran_it(multistart, tmp_path, capsys) -> None:
    import cv2

    data = tmp_path / "data"
    write_dataset(data, ("Alpha",), frames=6, size=(64, 64))
    out = tmp_path / "out.json"
    args = [str(data), "-t", "dcf", "--starts", "2", "--workers", "1", "--json", str(out)]
    assert multistart.main(args) == 0
    machine = json.loads(out.read_text())["machine"]
    assert machine["opencv"] == cv2.__version__ and machine["cpu"]
    first_line = capsys.readouterr().out.splitlines()[0]
    assert (
        first_line.startswith(f"host: {machine['cpu']}")
        and f"OpenCV {cv2.__version__}" in first_line
    )
