"""Time the array operations the CF trackers lean on, in the two ways each can be written, at
the sizes ``eco-student`` and ``deepstrcf`` meet on a 256-px sample (one thread).

* a stack of feature maps' real 2-D FFT: numpy's against torch's (``cf/fourier.rfft2_stack``);
* a complex array divided by a real one against multiplied by its inverse;
* a sum over channels of complex products: ``numpy.einsum`` against a product and a sum.

Prints the median microseconds of each, interleaved rounds, and their ratio. What
docs/results.md#speed cites for the changes of 2026-12-02. A benchmark, not a test.

    taskset -c 0 .venv/bin/python benchmarks/array_ops.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing

#: (channels, rows, cols) of the maps met at a 256-px sample: grey, ColorNames (or fHOG
#: projected by ECO), fHOG at 4-px cells; ColorNames projected by ECO; the student's stride-16
#: layer.
MAP_SHAPES = ((1, 64, 64), (10, 64, 64), (31, 64, 64), (3, 64, 64), (64, 16, 16))
#: (channels, rows, half columns) of half spectra: STRCF's hand-crafted and CNN layers.
SPECTRUM_SHAPES = ((31, 65, 33), (64, 17, 9))


def _median_us(fns: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up (plans, caches)
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append(1e6 * (time.perf_counter() - start) / calls)
    return {k: statistics.median(v) for k, v in times.items()}


def _row(what: str, shape: tuple[int, ...], us: dict[str, float]) -> None:
    a, b = us.values()
    names = " / ".join(us)
    print(f"{what:26s} {shape!s:14s} {names}: {a:8.1f} / {b:8.1f} us  ({b / a:.2f}x)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from cftrack_cli.cf.fourier import rfft2_stack

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    for shape in MAP_SHAPES:
        x = rng.normal(size=shape).astype(np.float32)
        us = _median_us(
            {"numpy": lambda x=x: np.fft.rfft2(x), "torch": lambda x=x: rfft2_stack(x)},
            args.rounds,
            args.calls,
        )
        _row("rfft2 of a stack", shape, us)
    for shape in SPECTRUM_SHAPES:
        z = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
        w = z[::-1].copy()
        d = rng.uniform(1, 2, size=shape).astype(np.float32)
        inv = np.reciprocal(d)
        us = _median_us(
            {"divide": lambda z=z, d=d: z / d, "multiply": lambda z=z, inv=inv: z * inv},
            args.rounds,
            args.calls,
        )
        _row("complex / real array", shape, us)
        us = _median_us(
            {
                "einsum": lambda z=z, w=w: np.einsum("chw,chw->hw", z, w),
                "product-sum": lambda z=z, w=w: (z * w).sum(axis=0),
            },
            args.rounds,
            args.calls,
        )
        _row("channel sum of products", shape, us)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
