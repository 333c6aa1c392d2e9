"""Measure a tracker variant that has no switch of its own: accuracy over perturbed starts, or
speed on one sequence.

A variant changes one module-level default before any tracker is built (worker processes are
forked afterwards, so they inherit it). These are the alternatives the README's "Tried and not
adopted" table reports:

* ``hard-orientation``: fHOG puts each gradient in its nearest orientation bin, as the toolbox's
  ``fhog.m`` does (``softBin=-1``), instead of interpolating between the two nearest bins;
* ``dims-3-12``: deep ECO projects the student's two layers to 3 and 12 channels (the paper's
  release) instead of ECO's 16 and 64.

    .venv/bin/python benchmarks/variants.py hard-orientation accuracy \\
        ../shared/data/distill/sequences -t eco-hc
    taskset -c 0 .venv/bin/python benchmarks/variants.py dims-3-12 speed \\
        ../shared/data/sequences/bag -t eco-student

``accuracy`` takes ``benchmarks/multistart.py``'s arguments. ``speed`` runs the plain tracker
and the variant in turns (``--repeats`` each, one thread) and prints frames/s of every turn.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing
sys.path.insert(0, str(HERE))


def _hard_orientation() -> Callable[[], None]:
    from cftrack_cli.features.handcrafted import FHOG

    defaults = FHOG.__init__.__kwdefaults__
    before = defaults["soft_orientation"]
    defaults["soft_orientation"] = False

    def undo() -> None:
        defaults["soft_orientation"] = before

    return undo


def _student_dims_3_12() -> Callable[[], None]:
    from cftrack_cli.trackers import eco_deep

    before = eco_deep.DEEP_COMPRESSED_DIMS
    eco_deep.DEEP_COMPRESSED_DIMS = (3, 12)

    def undo() -> None:
        eco_deep.DEEP_COMPRESSED_DIMS = before

    return undo


#: name -> a function that applies the variant and returns how to undo it
VARIANTS: dict[str, Callable[[], Callable[[], None]]] = {
    "hard-orientation": _hard_orientation,
    "dims-3-12": _student_dims_3_12,
}


def _speed(variant: str, argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog=f"variants.py {variant} speed")
    ap.add_argument("sequence", type=Path, help="one OTB-layout sequence folder")
    ap.add_argument("-t", "--tracker", required=True)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import cv2
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from cftrack_cli.boxes import Box
    from cftrack_cli.evaluation.datasets import find_dataset
    from cftrack_cli.io.frames import read_images
    from cftrack_cli.trackers import create_tracker

    (seq,) = find_dataset(args.sequence.parent, only=[args.sequence.name]).sequences
    frames = list(itertools.islice(read_images(seq.frames), args.frames))
    first = Box(*np.asarray(seq.groundtruth[0], dtype=np.float64))
    fps: dict[str, list[float]] = {"plain": [], variant: []}
    for _ in range(args.repeats):
        for label in fps:
            undo = VARIANTS[variant]() if label == variant else None
            tracker = create_tracker(args.tracker)
            tracker.init(frames[0], first)
            start = time.perf_counter()
            for frame in frames[1:]:
                tracker.update(frame)
            fps[label].append((len(frames) - 1) / (time.perf_counter() - start))
            if undo:
                undo()
    for label, values in fps.items():
        print(f"{args.tracker} {label}: " + " ".join(f"{v:.1f}" for v in values) + " frames/s")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] not in VARIANTS or argv[1] not in ("accuracy", "speed"):
        print(__doc__)
        print(f"variants: {', '.join(VARIANTS)}; modes: accuracy, speed", file=sys.stderr)
        return 2
    variant, mode, rest = argv[0], argv[1], argv[2:]
    if mode == "speed":
        return _speed(variant, rest)
    VARIANTS[variant]()
    import multistart

    return multistart.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
