"""benchmarks/speed_leads.py: its FFT swaps do what it says, and are undone; the networks it no
longer switches already run channels-last."""

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


def test_numpy_fft_puts_every_stack_back_on_numpy_and_is_undone(leads) -> None:
    from cftrack_cli.cf import interpolation, strcf

    g = np.random.default_rng(1).normal(size=(2, 8, 8)).astype(np.float32)
    shipped = (strcf.from_grid(g), interpolation.half_spectrum(g))
    before = (strcf.rfft2_stack, interpolation.rfft2_stack)
    with leads._numpy_fft():
        assert strcf.rfft2_stack is not before[0] and interpolation.rfft2_stack is not before[1]
        again = (strcf.from_grid(g), interpolation.half_spectrum(g))
    assert (strcf.rfft2_stack, interpolation.rfft2_stack) == before
    for a, b in zip(again, shipped, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_the_student_backend_runs_its_network_channels_last() -> None:
    from cftrack_cli.trackers.networks import student_backend

    backend = student_backend(None, deepest_only=True)[0]
    patches = np.random.default_rng(2).integers(0, 255, size=(1, 64, 64, 3), dtype=np.uint8)
    x = backend.preprocessing(patches)
    assert x.is_contiguous(memory_format=torch.channels_last)
    for tap_map in backend.raw(patches).values():
        # a convolution's output takes its input's layout: the pass ran channels-last
        assert tap_map.is_contiguous(memory_format=torch.channels_last)
        assert not tap_map.is_contiguous()
