"""benchmarks/array_ops.py: each pair it times computes the same thing, and it prints a row each."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "array_ops.py"


@pytest.fixture(scope="module")
def ops():
    yield load_script(SCRIPT, "bench_array_ops")
    sys.modules.pop("bench_array_ops", None)


def test_the_timed_alternatives_agree() -> None:
    from cftrack_cli.cf.fourier import rfft2_stack

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 16, 12)).astype(np.float32)
    np.testing.assert_allclose(rfft2_stack(x), np.fft.rfft2(x), rtol=1e-4, atol=1e-4)
    z = (rng.normal(size=(4, 9, 5)) + 1j * rng.normal(size=(4, 9, 5))).astype(np.complex64)
    d = rng.uniform(1, 2, size=z.shape).astype(np.float32)
    np.testing.assert_allclose(z * np.reciprocal(d), z / d, rtol=1e-6)
    w = z[::-1]
    np.testing.assert_allclose((z * w).sum(0), np.einsum("chw,chw->hw", z, w), rtol=1e-5)


def test_it_prints_one_row_per_timed_pair(ops, capsys) -> None:
    assert ops.main(["--rounds", "1", "--calls", "1"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == len(ops.MAP_SHAPES) + 2 * len(ops.SPECTRUM_SHAPES)
    assert all(row.rstrip().endswith("x)") for row in rows)
