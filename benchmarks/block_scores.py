"""Where each of a STRCF tracker's blocks would put the target, frame by frame, against where
it is: the diagnosis behind ``deepstrcf``'s mid-level layer (docs/results.md, "Two CF hosts").

``deepstrcf`` fits its CNN block and its hand-crafted block to the label apart and localises on
their scores' mean. This runs a tracker over one sequence and, at every frame, maximises each
block's score alone and the mean, in the units the engine moves by (a fraction of the sample's
period, from the sample cut around the last estimate), beside the ground truth's displacement
in the same units. The summary is each peak's projection on the true displacement, as a share
of it, over frames where the target moved by more than ``--min-step`` of the period: 1 keeps
up, under 1 lags.

    .venv/bin/python benchmarks/block_scores.py /work/data/dev/truck2 -t deepstrcf --frames 16
    .venv/bin/python benchmarks/block_scores.py /work/data/dev/truck2 -t deepstrcf --frames 16 \
        --variant deepstrcf-deepest-layer

``--variant`` applies one of ``benchmarks/variants.py``'s variants first.

A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing
sys.path.insert(0, str(HERE))  # variants.py


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sequence", type=Path, help="one OTB-layout sequence folder")
    ap.add_argument("-t", "--tracker", default="deepstrcf", help="a STRCF tracker name")
    ap.add_argument("--frames", type=int, default=None, help="the first N frames only")
    ap.add_argument("--min-step", type=float, default=0.05, help="see the module notes")
    ap.add_argument("--variant", default=None, help="a variants.py variant (names joined by +)")
    args = ap.parse_args(argv)
    if args.variant:
        from variants import VARIANTS

        unknown = [n for n in args.variant.split("+") if n not in VARIANTS]
        if unknown:
            print(f"unknown variant {', '.join(unknown)}", file=sys.stderr)
            return 2
        for name in args.variant.split("+"):
            VARIANTS[name]()  # acts when the tracker is built, for the rest of this process

    from cftrack_cli.boxes import Box
    from cftrack_cli.cf.localization import maximize_score
    from cftrack_cli.evaluation.datasets import find_dataset
    from cftrack_cli.io.frames import read_images
    from cftrack_cli.threads import set_library_threads
    from cftrack_cli.trackers import create_tracker

    set_library_threads(1)
    (seq,) = find_dataset(args.sequence.parent, only=[args.sequence.name]).sequences
    gt = np.asarray(seq.groundtruth, dtype=np.float64)
    frames = itertools.islice(read_images(seq.frames), args.frames)
    tracker = create_tracker(args.tracker)
    tracker.init(next(frames), Box(*gt[0]))
    learner = getattr(tracker, "learner", None)
    filt = getattr(learner, "filter", None)
    if filt is None or not hasattr(filt, "block_scores"):
        print(f"{args.tracker} is not a STRCF tracker", file=sys.stderr)
        return 2
    peaks: list[list[tuple[float, float]]] = []
    plain_scores = learner.scores

    def scores(sample):  # the engine's call, with each block's peak noted on the way
        total = plain_scores(sample)
        blocks = filt.block_scores(sample)
        found = [maximize_score(blocks[b]) for b in sorted(blocks)] + [maximize_score(total)]
        peaks.append([(p.dx, p.dy) for p in found])
        return total

    learner.scores = scores
    names = [f"block {b}" for b in sorted(set(filt.blocks))] + ["mean"]
    print("frame  true (dx, dy)  " + "  ".join(f"{n:>16s}" for n in names))
    shares: list[list[float]] = [[] for _ in names]
    for index, frame in enumerate(frames, start=1):
        (x0, y0), (sx, sy) = tracker.target.crop_grid()
        period = tracker.stage.period  # (rows, cols) in sample pixels
        tracker.update(frame)
        cx, cy = gt[index, 0] + gt[index, 2] / 2, gt[index, 1] + gt[index, 3] / 2
        true = np.array([(cx - x0) / sx / period[1] - 0.5, (cy - y0) / sy / period[0] - 0.5])
        row = peaks[-1]
        print(
            f"{index:5d}  ({true[0]:+.3f}, {true[1]:+.3f})  "
            + "  ".join(f"({dx:+.3f}, {dy:+.3f})" for dx, dy in row)
        )
        norm = float(true @ true)
        if np.isfinite(norm) and norm >= args.min_step**2:
            for k, (dx, dy) in enumerate(row):
                shares[k].append(float(np.array([dx, dy]) @ true) / norm)
    for name, values in zip(names, shares, strict=True):
        if values:
            share = float(np.median(values))
            print(f"{name}: median share of the true step {share:.2f} ({len(values)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
