"""benchmarks/block_scores.py: each STRCF block's peak against the true step, frame by frame."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from cftrack_cli.evaluation.synthetic import write_sequence
from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "block_scores.py"


@pytest.fixture(scope="module")
def script():
    yield load_script(SCRIPT, "bench_block_scores")
    sys.modules.pop("bench_block_scores", None)


@pytest.fixture
def square(tmp_path: Path) -> Path:
    write_sequence(tmp_path / "Square", frames=12, size=(96, 96), seed=3)
    return tmp_path / "Square"


def _shares(out: str, label: str) -> dict[str, float]:
    (line,) = [x for x in out.splitlines() if x.startswith(f"{label}: median share")]
    return {name: float(v) for name, v in re.findall(r"((?:block \d+)|mean) (-?[\d.]+)", line)}


def test_a_tracker_that_follows_its_target_keeps_up_in_every_block(script, square, capsys):
    args = [str(square.parent), "-t", "deepstrcf", "--min-step", "0.002", "--rows"]
    assert script.main(args) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"^\s+\d+\s+\(", out, re.MULTILINE)) == 11  # a row per updated frame
    shares = _shares(out, "Square")
    assert set(shares) == {"block 0", "block 1", "mean"}  # the CNN block, the hand-crafted one
    assert all(0.5 < share < 1.5 for share in shares.values()), shares
    assert _shares(out, "all") == shares  # one sequence: the pooled summary is its own


def test_only_strcf_trackers_have_blocks(script, square, capsys):
    assert script.main([str(square.parent), "-t", "dcf"]) == 2
    assert "not a STRCF tracker" in capsys.readouterr().err
    assert script.main([str(square.parent), "-t", "strcf", "--variant", "no-such-variant"]) == 2
