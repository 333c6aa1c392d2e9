"""Result and times files: the layout, the 1-based round trip, resumability, partial files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cftrack_cli.errors import UsageError
from cftrack_cli.evaluation.metrics import score_sequence
from cftrack_cli.evaluation.results import ResultFolder, count_lines
from cftrack_cli.io.annotations import read_boxes

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

BOXES = np.array([[0.0, 0.0, 10.0, 12.0], [3.5, 4.25, 10.0, 12.0], [np.nan] * 4, [7, 8, 9, 10]])


def test_layout_and_one_based_text(tmp_path):
    store = ResultFolder(tmp_path)
    path = store.write("trk", "Seq", BOXES, [0.5, 0.01, 0.02, 0.03])
    assert path == tmp_path / "trk" / "Seq.txt"
    assert store.times_path("trk", "Seq") == tmp_path / "trk" / "times" / "Seq_time.txt"
    lines = path.read_text().splitlines()
    assert lines[0] == "1,1,10,12"  # 0-based (0, 0) is OTB's (1, 1)
    assert lines[1] == "4.500,5.250,10,12"
    assert lines[2].lower().startswith("nan")
    assert len(lines) == 4
    assert [float(v) for v in store.times_path("trk", "Seq").read_text().split()] == [
        0.5,
        0.01,
        0.02,
        0.03,
    ]


def test_round_trip_returns_the_same_boxes(tmp_path):
    store = ResultFolder(tmp_path)
    store.write("trk", "Seq", BOXES, [0.1] * 4)
    back = store.read_boxes("trk", "Seq")
    np.testing.assert_allclose(back, BOXES, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(store.read_times("trk", "Seq"), [0.1] * 4)


def test_results_compare_with_ground_truth_files_directly(tmp_path):
    """A result equal to the ground truth, written by us, scores like the ground truth itself."""
    gt_file = tmp_path / "groundtruth_rect.txt"
    gt_file.write_text("1,1,10,12\n4.5,5.25,10,12\n8,9,9,10\n")
    gt = read_boxes(gt_file)
    store = ResultFolder(tmp_path / "res")
    store.write("trk", "Seq", gt, [0.1] * 3)
    assert store.boxes_path("trk", "Seq").read_text() == gt_file.read_text().replace(
        "4.5,5.25", "4.500,5.250"
    )
    s = score_sequence(store.read_boxes("trk", "Seq"), gt)
    assert s.success_auc == pytest.approx(20 / 21)


def test_is_done_counts_lines(tmp_path):
    store = ResultFolder(tmp_path)
    assert not store.is_done("trk", "Seq", 4)
    store.write("trk", "Seq", BOXES, [0.1] * 4)
    assert store.is_done("trk", "Seq", 4)
    assert not store.is_done("trk", "Seq", 5)
    path = store.boxes_path("trk", "Seq")
    path.write_text(path.read_text() + "\n\n")  # trailing blank lines do not count
    assert store.is_done("trk", "Seq", 4)
    path.write_text("1,1,2,2\n")
    assert not store.is_done("trk", "Seq", 4)
    assert count_lines(tmp_path / "nothing.txt") == 0


def test_partial_files_are_invisible_and_cleaned(tmp_path):
    store = ResultFolder(tmp_path)
    (tmp_path / "trk" / "times").mkdir(parents=True)
    (tmp_path / "trk" / ".Seq.partial.txt").write_text("1,1,2,2\n")
    (tmp_path / "trk" / "times" / ".Seq_time.partial.txt").write_text("0.1\n")
    assert store.trackers() == []
    assert store.find("trk", "Seq") is None
    store.remove_partials(["trk"])
    assert list((tmp_path / "trk").rglob("*partial*")) == []


def test_trackers_and_case_insensitive_find(tmp_path):
    store = ResultFolder(tmp_path)
    store.write("B", "Seq", BOXES, [0.1] * 4)
    store.write("A", "other", BOXES, [0.1] * 4)
    (tmp_path / "empty").mkdir()
    (tmp_path / "README.md").write_text("x")
    assert store.trackers() == ["A", "B"]
    assert store.find("B", "seq") == tmp_path / "B" / "Seq.txt"
    assert store.read_boxes("B", "missing") is None
    assert store.read_times("A", "missing") is None
    assert ResultFolder(tmp_path / "nope").trackers() == []


def test_bad_files_give_one_line_errors(tmp_path):
    store = ResultFolder(tmp_path)
    (tmp_path / "trk" / "times").mkdir(parents=True)
    (tmp_path / "trk" / "Seq.txt").write_text("1,2,3\n")
    (tmp_path / "trk" / "times" / "Seq_time.txt").write_text("fast\n")
    with pytest.raises(UsageError, match=r"Seq\.txt:1"):
        store.read_boxes("trk", "Seq")
    with pytest.raises(UsageError, match=r"Seq_time\.txt"):
        store.read_times("trk", "Seq")


@pytest.mark.shared
def test_published_results_round_trip(tmp_path):
    published = SHARED / "published_results"
    if not published.is_dir():
        pytest.skip("../shared/published_results is not here")
    src = ResultFolder(published)
    assert "KCF" in src.trackers()
    boxes = src.read_boxes("KCF", "Crossing")
    ResultFolder(tmp_path).write("KCF", "Crossing", boxes, np.zeros(len(boxes)))
    original = np.loadtxt(published / "KCF" / "Crossing.txt", delimiter=",")
    rewritten = np.loadtxt(tmp_path / "KCF" / "Crossing.txt", delimiter=",")
    np.testing.assert_allclose(rewritten, original, atol=1e-3)
