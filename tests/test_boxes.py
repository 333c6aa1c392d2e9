import math

import pytest

from cftrack_cli.boxes import Box, iou, parse_box
from cftrack_cli.errors import UsageError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,2,3,4", Box(1, 2, 3, 4)),
        (" 10.5, 20 ,30,40 ", Box(10.5, 20, 30, 40)),
        ("1 2 3 4", Box(1, 2, 3, 4)),
        ("1\t2\t3\t4", Box(1, 2, 3, 4)),
        ("-5,-5,10,10", Box(-5, -5, 10, 10)),
    ],
)
def test_parse_box_accepts_common_forms(text, expected):
    assert parse_box(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1,2,3", "4 numbers"),
        ("1,2,3,4,5", "4 numbers"),
        ("a,b,c,d", "something else"),
        ("1,2,nan,4", "finite"),
        ("1,2,inf,4", "finite"),
        ("1,2,0,4", "positive"),
        ("1,2,3,-4", "positive"),
        ("", "4 numbers"),
    ],
)
def test_parse_box_rejects_with_a_reason(text, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_box(text)


def test_box_center_round_trip():
    box = Box.from_center(50, 40, 20, 10)
    assert box == Box(40, 35, 20, 10)
    assert box.center == (50, 40)


def test_overlaps_frame():
    assert Box(-5, -5, 10, 10).overlaps_frame(100, 100)
    assert not Box(100, 10, 10, 10).overlaps_frame(100, 100)
    assert not Box(-10, 10, 10, 10).overlaps_frame(100, 100)


def test_iou_cases():
    a = Box(0, 0, 10, 10)
    assert iou(a, a) == 1.0
    assert iou(a, Box(10, 0, 10, 10)) == 0.0
    assert math.isclose(iou(a, Box(5, 0, 10, 10)), 50 / 150)
