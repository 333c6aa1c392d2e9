"""Time trackers as they are against their FFTs moved between numpy and torch.

The feature stage's spectra and STRCF's spatial step run torch's FFT (MKL): since 2026-12-02
and 2026-12-01. This times, on one pinned core, each tracker plain, with those stacks back on
numpy's FFT (what torch's bought: the ``strcf-numpy-fft`` and ``spectra-numpy-fft`` variants of
variants.py), and with every remaining numpy 2-D FFT (single small maps: the score's sampling,
set-up) answered by torch's too (what is left there); repeats interleaved, the median reported
with the per-stage split, and how far each variant's last box lies from the plain one's. A
benchmark, not a test.

The networks need no layout switch: their input is already channels-last
(nets/preprocessing.py), and turning the weights channels-last as well leaves every box
identical (measured with this script's former ``channels-last`` variant, 2026-12-02).

    .venv/bin/python benchmarks/speed_leads.py -t eco-student,deepstrcf,eco-hc,strcf
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing
sys.path.insert(0, str(HERE))  # variants.py

VARIANTS = ("plain", "numpy-fft", "torch-fft")


@contextlib.contextmanager
def _torch_fft() -> Iterator[None]:
    """numpy's 2-D FFTs answered by torch.fft (same conventions: axes, ``s``, ``norm``)."""
    import numpy as np
    import torch

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None) -> Any:
            if tuple(axes) != (-2, -1):
                raise NotImplementedError("only the last two axes")
            x = torch.from_numpy(np.ascontiguousarray(a))
            return fn(x, s=s, norm=norm).numpy()

        return call

    names = {
        "rfft2": torch.fft.rfft2,
        "irfft2": torch.fft.irfft2,
        "fft2": torch.fft.fft2,
        "ifft2": torch.fft.ifft2,
    }
    before = {n: getattr(np.fft, n) for n in names}
    for n, fn in names.items():
        setattr(np.fft, n, wrap(fn))
    try:
        yield
    finally:
        for n, fn in before.items():
            setattr(np.fft, n, fn)


@contextlib.contextmanager
def _numpy_fft() -> Iterator[None]:
    """Every stack of maps back on numpy's FFT (what torch's, applied, bought): the
    ``strcf-numpy-fft`` and ``spectra-numpy-fft`` variants of variants.py while the tracker
    runs."""
    from variants import VARIANTS

    undos = [VARIANTS[name]() for name in ("strcf-numpy-fft", "spectra-numpy-fft")]
    try:
        yield
    finally:
        for undo in reversed(undos):
            undo()


class _Patched:
    """A tracker whose init and update run inside ``context``."""

    def __init__(self, tracker: Any, context: Callable[[], contextlib.AbstractContextManager]):
        self._tracker, self._context = tracker, context
        self.boxes: list[Any] = []

    def init(self, frame: Any, box: Any) -> None:
        with self._context():
            self._tracker.init(frame, box)

    def update(self, frame: Any) -> Any:
        with self._context():
            result = self._tracker.update(frame)
        self.boxes.append(result.box)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-t", "--trackers", required=True, help="comma-separated tracker names")
    ap.add_argument("--sequence", type=Path, default=None, help="OTB-layout folder (bag.avi)")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import numpy as np

    from cftrack_cli.bench import pin_to_cores, time_trackers
    from cftrack_cli.cli.bench import _default_sequence, _sequence_box
    from cftrack_cli.io.frames import open_frames
    from cftrack_cli.trackers import create_tracker

    pin_to_cores(1)
    source = args.sequence or _default_sequence()
    first = _sequence_box(source, None)
    with open_frames(source) as stream:
        frames = list(itertools.islice(stream, args.frames))
    built: dict[str, _Patched] = {}

    def factory(name: str, variant: str) -> Callable[[], _Patched]:
        context = {"torch-fft": _torch_fft, "numpy-fft": _numpy_fft}.get(
            variant, contextlib.nullcontext
        )

        def make() -> _Patched:
            tracker = create_tracker(name)
            patched = _Patched(tracker, context)
            built[f"{name} {variant}"] = patched  # the last repeat's boxes
            return patched

        return make

    factories = {
        f"{name} {variant}": factory(name, variant)
        for name in args.trackers.split(",")
        for variant in VARIANTS
    }
    timings = time_trackers(factories, frames, first, args.repeats)
    for label, timing in timings.items():
        fps = [timing.frames / s for s in timing.update_seconds]
        stages = {
            k: statistics.median(m.get(k, 0.0) for m in timing.stage_ms) for k in timing.stage_ms[0]
        }
        name = label.split(" ")[0]
        plain = np.asarray(built[f"{name} plain"].boxes[-1], dtype=float)
        moved = float(np.abs(np.asarray(built[label].boxes[-1], dtype=float) - plain).max())
        split = " ".join(f"{k} {v:.2f}" for k, v in sorted(stages.items()))
        print(
            f"{label:28s} {statistics.median(fps):6.1f} frames/s "
            f"(repeats {' '.join(f'{f:.1f}' for f in fps)}); last box moved {moved:.3g} px; "
            f"ms: {split}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
