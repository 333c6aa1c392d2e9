"""Box files: delimiters, absent rows, polygons and the one 1-based <-> 0-based conversion."""

import numpy as np
import pytest

from cftrack_cli.boxes import Box
from cftrack_cli.errors import UsageError
from cftrack_cli.io.annotations import first_box, read_boxes, write_boxes


@pytest.mark.parametrize("sep", [",", "\t", " ", ", "])
def test_delimiters(tmp_path, sep):
    path = tmp_path / "gt.txt"
    path.write_text(sep.join(["11", "21", "30", "40"]) + "\n")
    np.testing.assert_array_equal(read_boxes(path), [[10, 20, 30, 40]])


def test_one_based_conversion_is_optional(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("11,21,30,40\n")
    np.testing.assert_array_equal(read_boxes(path, one_based=False), [[11, 21, 30, 40]])


def test_absent_rows_become_nan(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,1,5,5\nNaN,NaN,NaN,NaN\n1,1,0,5\n2,2,5,5\n\n")
    rows = read_boxes(path)
    assert rows.shape == (4, 4)
    assert np.isnan(rows[1]).all() and np.isnan(rows[2]).all()
    np.testing.assert_array_equal(rows[3], [1, 1, 5, 5])


def test_vot_polygon_becomes_its_bounds(tmp_path):
    path = tmp_path / "groundtruth.txt"
    path.write_text("11,21,41,21,41,61,11,61\n")
    np.testing.assert_array_equal(read_boxes(path), [[10, 20, 30, 40]])


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(UsageError, match=r"gt\.txt:2"):
        read_boxes(path)


def test_round_trip(tmp_path):
    boxes = np.array([[10.0, 20.5, 30.25, 40.0], [np.nan] * 4, [0.0, 0.0, 1.0, 1.0]])
    path = tmp_path / "out.txt"
    write_boxes(path, boxes)
    assert path.read_text().splitlines()[0] == "11,21.500,30.250,40"
    np.testing.assert_allclose(read_boxes(path), boxes, atol=1e-3)
    assert not list(tmp_path.glob(".*partial*"))


def test_first_box(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("292.23,128.36,145.96,132.47\n1,1,1,1\n")
    assert first_box(path) == pytest.approx(Box(291.23, 127.36, 145.96, 132.47))


def test_first_box_absent_in_first_frame(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("NaN,NaN,NaN,NaN\n1,1,1,1\n")
    with pytest.raises(UsageError, match="first row"):
        first_box(path)


def test_missing_box_file(tmp_path):
    with pytest.raises(UsageError, match="no such"):
        first_box(tmp_path / "nope.txt")
