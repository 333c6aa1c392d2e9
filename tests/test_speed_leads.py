"""benchmarks/speed_leads.py: its two changes do what it says, and are undone."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed_leads.py"


@pytest.fixture(scope="module")
def leads():
    yield load_script(SCRIPT, "bench_speed_leads")
    sys.modules.pop("bench_speed_leads", None)


def test_torch_fft_answers_numpy_fft_calls_with_the_same_transform_and_is_undone(leads) -> None:
    x = np.random.default_rng(0).normal(size=(3, 6, 10)).astype(np.float32)
    plain = np.fft.rfft2
    expected = np.fft.irfft2(np.fft.rfft2(x, norm="forward"), s=(6, 10), norm="forward")
    with leads._torch_fft():
        assert np.fft.rfft2 is not plain
        got = np.fft.irfft2(np.fft.rfft2(x, norm="forward"), s=(6, 10), norm="forward")
        with pytest.raises(NotImplementedError):
            np.fft.rfft2(x, axes=(0, 1))
    assert np.fft.rfft2 is plain
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got, x, atol=1e-5)


def test_numpy_fft_puts_strcf_spatial_step_back_on_numpy_and_is_undone(leads) -> None:
    from cftrack_cli.cf import strcf

    g = np.random.default_rng(1).normal(size=(2, 8, 8)).astype(np.float32)
    shipped = strcf.from_grid(g)
    before = strcf.rfft2_stack
    with leads._numpy_fft():
        assert strcf.rfft2_stack is not before
        again = strcf.from_grid(g)
    assert strcf.rfft2_stack is before
    np.testing.assert_allclose(again, shipped, atol=1e-5)


def test_channels_last_converts_the_network_and_its_input(leads) -> None:
    net = torch.nn.Conv2d(3, 4, 3)
    backend = type("Backend", (), {})()
    backend.net = net
    backend.preprocessing = lambda patches: torch.from_numpy(patches).permute(0, 3, 1, 2)
    tracker = type("Tracker", (), {"network": backend})()
    leads._channels_last(tracker)
    assert net.weight.is_contiguous(memory_format=torch.channels_last)
    x = backend.preprocessing(np.zeros((1, 5, 5, 3), dtype=np.float32))
    assert x.is_contiguous(memory_format=torch.channels_last)
    leads._channels_last(type("Tracker", (), {})())  # no network: nothing to do
