"""Finding sequences in OTB, UAV123 and VOT layouts; attributes; shards; bad datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cftrack_cli.errors import UsageError
from cftrack_cli.evaluation.datasets import find_dataset, parse_shard, shard_sequences
from cftrack_cli.evaluation.synthetic import write_dataset, write_sequence

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _frames(folder: Path, n: int) -> None:
    """n tiny PNG frames (copied from a synthetic sequence) in ``folder``."""
    tmp = folder.parent / f".src-{folder.name}"
    write_sequence(tmp, frames=n, size=(32, 32), suffix=".png")
    folder.mkdir(parents=True, exist_ok=True)
    for p in (tmp / "img").iterdir():
        shutil.move(str(p), folder / p.name)
    shutil.rmtree(tmp)


def test_otb_layout_sorted_with_zero_based_ground_truth(tmp_path):
    boxes = write_dataset(tmp_path, ("b", "A", "c10", "c9"), frames=5)
    ds = find_dataset(tmp_path)
    assert ds.layout == "OTB"
    assert ds.names() == ["A", "b", "c9", "c10"]  # natural, case-insensitive order
    seq = ds.by_name()["A"]
    assert seq.frame_count == 5 and seq.frames[0].name == "0001.jpg"
    np.testing.assert_allclose(seq.groundtruth, boxes["A"])  # file is 1-based, boxes 0-based
    assert find_dataset(tmp_path, ["c9"]).names() == ["c9"]


@pytest.mark.parametrize("sep", [",", "\t", " "])
def test_delimiters_and_absent_rows(tmp_path, sep):
    write_dataset(tmp_path, ("S",), frames=4)
    rows = ["11", "21", "10", "12"]
    text = "\n".join([sep.join(rows), "NaN,NaN,NaN,NaN", sep.join(["5", "5", "0", "0"]), "0 0 3 3"])
    (tmp_path / "S" / "groundtruth_rect.txt").write_text(text + "\n")
    gt = find_dataset(tmp_path).sequences[0].groundtruth
    assert gt[0].tolist() == [10, 20, 10, 12]
    assert np.isnan(gt[1]).all() and np.isnan(gt[2]).all()
    assert gt[3].tolist() == [-1, -1, 3, 3]


def test_uav123_layout_nested(tmp_path):
    _frames(tmp_path / "data_seq" / "UAV123" / "bike1", 3)
    (tmp_path / "anno" / "UAV123").mkdir(parents=True)
    anno = tmp_path / "anno" / "UAV123" / "bike1.txt"
    anno.write_text("5,5,10,10\n6,6,10,10\nNaN,NaN,NaN,NaN\n")
    ds = find_dataset(tmp_path)
    assert ds.layout == "UAV123" and ds.names() == ["bike1"]
    assert ds.sequences[0].frame_count == 3
    assert np.isnan(ds.sequences[0].groundtruth[2]).all()


def test_uav123_layout_flat(tmp_path):
    _frames(tmp_path / "data_seq" / "car1", 2)
    (tmp_path / "anno").mkdir()
    (tmp_path / "anno" / "car1.txt").write_text("5,5,10,10\n6,6,10,10\n")
    assert find_dataset(tmp_path).names() == ["car1"]


def test_vot_polygons_become_axis_aligned_boxes(tmp_path):
    _frames(tmp_path / "ball" / "color", 2)
    (tmp_path / "ball" / "groundtruth.txt").write_text(
        "11,21,31,21,31,41,11,41\n12,20,22,30,12,40,2,30\n"
    )
    ds = find_dataset(tmp_path)
    assert ds.layout == "VOT"
    gt = ds.sequences[0].groundtruth
    assert gt[0].tolist() == [10, 20, 20, 20]
    assert gt[1].tolist() == [1, 19, 20, 20]


def test_vot_frames_in_the_sequence_folder(tmp_path):
    _frames(tmp_path / "got" / "seq1", 2)
    (tmp_path / "got" / "seq1" / "groundtruth.txt").write_text("1,1,5,5\n2,2,5,5\n")
    assert find_dataset(tmp_path / "got").names() == ["seq1"]


def test_single_sequence_folder_and_two_target_sequences(tmp_path):
    write_sequence(tmp_path / "Jog", frames=3)
    assert find_dataset(tmp_path / "Jog").names() == ["Jog"]
    gt = (tmp_path / "Jog" / "groundtruth_rect.txt").read_text()
    (tmp_path / "Jog" / "groundtruth_rect.txt").unlink()
    (tmp_path / "Jog" / "groundtruth_rect.1.txt").write_text(gt)
    (tmp_path / "Jog" / "groundtruth_rect.2.txt").write_text(gt)
    assert find_dataset(tmp_path).names() == ["Jog-1", "Jog-2"]


def test_frame_count_mismatch_uses_the_shorter_and_says_so(tmp_path):
    write_dataset(tmp_path, ("S",), frames=6)
    gt = tmp_path / "S" / "groundtruth_rect.txt"
    gt.write_text("\n".join(gt.read_text().splitlines()[:4]) + "\n")
    seq = find_dataset(tmp_path).sequences[0]
    assert seq.frame_count == 4 and len(seq.groundtruth) == 4
    assert any("6 images but 4" in n for n in seq.notes)


def test_attributes_from_json_and_txt(tmp_path):
    write_dataset(tmp_path, ("A", "B", "C"), frames=2)
    (tmp_path / "attributes.json").write_text(json.dumps({"A": ["IV", "SV"], "B": ["SV"]}))
    (tmp_path / "C" / "attributes.txt").write_text("OCC, FM\n")
    ds = find_dataset(tmp_path)
    tags = {s.name: s.attributes for s in ds.sequences}
    assert tags == {"A": ("IV", "SV"), "B": ("SV",), "C": ("OCC", "FM")}
    assert ds.attributes == ["FM", "IV", "OCC", "SV"]


def test_bad_attributes_json(tmp_path):
    write_dataset(tmp_path, ("A",), frames=2)
    (tmp_path / "attributes.json").write_text('{"A": "IV"}')
    with pytest.raises(UsageError, match=r"attributes\.json"):
        find_dataset(tmp_path)


def test_bad_datasets_raise_one_line_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such dataset folder"):
        find_dataset(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        find_dataset(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no sequences found"):
        find_dataset(tmp_path / "empty")
    write_dataset(tmp_path / "ds", ("A",), frames=2)
    with pytest.raises(UsageError, match="no sequence 'Z'"):
        find_dataset(tmp_path / "ds", ["Z"])
    (tmp_path / "ds" / "A" / "groundtruth_rect.txt").write_text("1,2,3,4\nhello\n")
    with pytest.raises(UsageError, match=r"groundtruth_rect.txt:2") as err:
        find_dataset(tmp_path / "ds")
    assert "\n" not in str(err.value)
    (tmp_path / "ds" / "A" / "groundtruth_rect.txt").write_text("\n")
    with pytest.raises(UsageError, match="empty"):
        find_dataset(tmp_path / "ds")


def test_shards_partition_the_sequences(tmp_path):
    write_dataset(tmp_path, tuple(f"s{i}" for i in range(7)), frames=1)
    seqs = list(find_dataset(tmp_path).sequences)
    parts = [shard_sequences(seqs, k, 3) for k in range(3)]
    assert [s.name for s in parts[1]] == ["s1", "s4"]
    assert sorted(s.name for p in parts for s in p) == sorted(s.name for s in seqs)
    assert parse_shard("0/1") == (0, 1) and parse_shard(" 2 / 4 ") == (2, 4)
    for bad in ["4/4", "1/0", "-1/2", "a/b", "3", "1/2/3", ""]:
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(bad)


@pytest.mark.shared
def test_shared_development_sequences():
    root = SHARED / "data" / "sequences"
    if not root.is_dir():
        pytest.skip("../shared/data/sequences is not here")
    ds = find_dataset(root)
    counts = {s.name: s.frame_count for s in ds.sequences}
    assert counts["Crossing"] == 120 and counts["David"] == 471 and counts["bag"] == 196
    assert len(counts) >= 7
    for seq in ds.sequences:
        assert not seq.notes
        assert np.isfinite(seq.groundtruth[0]).all()
