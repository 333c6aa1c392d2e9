"""Time trackers as they are against two changes that are measured but not applied: torch's
FFT in place of numpy's, and the networks in channels-last memory layout.

Both change results in their last bits (another FFT, other convolution kernels), so applying
either moves every figure of the trackers it touches and waits for a session that can measure
them all again (docs/results.md#speed). This times, on one pinned core, each tracker plain,
with numpy's FFT everywhere (STRCF's spatial step runs torch's since 2026-12-01: what that
bought), with torch's FFT (``numpy.fft.rfft2``/``irfft2`` and their complex 2-D forms
answered by ``torch.fft`` while the tracker runs), with its network in channels-last (input
and weights), and with both; repeats interleaved, the median reported with the per-stage
split, and how far each variant's last box lies from the plain one's. A benchmark, not a test.

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

VARIANTS = ("plain", "numpy-fft", "torch-fft", "channels-last", "both")


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
    """STRCF's spatial step back on numpy's FFT (what its torch FFT, applied, bought): the
    ``strcf-numpy-fft`` variant of variants.py while the tracker runs."""
    from variants import VARIANTS

    undo = VARIANTS["strcf-numpy-fft"]()
    try:
        yield
    finally:
        undo()


def _channels_last(tracker: Any) -> None:
    """The tracker's network (if any) and its input in channels-last layout, in place."""
    import torch

    backend = getattr(tracker, "network", None)
    if backend is None:
        return
    backend.net.to(memory_format=torch.channels_last)
    prepare = backend.preprocessing
    backend.preprocessing = lambda patches: prepare(patches).contiguous(
        memory_format=torch.channels_last
    )


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
        context = {"torch-fft": _torch_fft, "both": _torch_fft, "numpy-fft": _numpy_fft}.get(
            variant, contextlib.nullcontext
        )

        def make() -> _Patched:
            tracker = create_tracker(name)
            if variant in ("channels-last", "both"):
                _channels_last(tracker)
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
