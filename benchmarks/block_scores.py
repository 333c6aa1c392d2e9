"""Where each of a STRCF tracker's blocks would put the target, frame by frame, against where
it is: the diagnosis behind ``deepstrcf``'s mid-level layer (docs/results.md, "Two CF hosts").

``deepstrcf`` fits its CNN block and its hand-crafted block to the label apart and localises on
their scores' mean. This runs a tracker over sequences and, at every frame, maximises each
block's score alone and the mean, in the units the engine moves by (a fraction of the sample's
period, from the sample cut around the last estimate), beside the ground truth's displacement
in the same units. The summary is each peak's projection on the true displacement, as a share
of it, over the frames that start on the target (the box before the step overlaps the ground
truth by IoU > ``--on-target``, 0.5) and where it moved by more than ``--min-step`` of the
period: 1 keeps up, under 1 lags. Per sequence, then the median over every such frame of all.

    .venv/bin/python benchmarks/block_scores.py DATASET -t deepstrcf --sequences truck2 \\
        --frames 16 --rows --on-target 0
    .venv/bin/python benchmarks/block_scores.py DATASET -t deepstrcf --frames 150 \\
        --variant deepstrcf-deepest-layer

``--rows`` prints every frame; ``--variant`` applies one of ``benchmarks/variants.py``'s
variants first. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing
sys.path.insert(0, str(HERE))  # variants.py


def _shares(seq: Any, args: argparse.Namespace) -> tuple[list[str], list[list[float]]] | None:
    """Block names and, per block, the share of each fast frame's true step its peak went."""
    from cftrack_cli.boxes import Box, iou
    from cftrack_cli.cf.localization import maximize_score
    from cftrack_cli.io.frames import read_images
    from cftrack_cli.trackers import create_tracker

    gt = np.asarray(seq.groundtruth, dtype=np.float64)
    frames = itertools.islice(read_images(seq.frames), args.frames)
    tracker = create_tracker(args.tracker)
    tracker.init(next(frames), Box(*gt[0]))
    learner = getattr(tracker, "learner", None)
    filt = getattr(learner, "filter", None)
    if filt is None or not hasattr(filt, "block_scores"):
        return None
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
    if args.rows:
        print(f"{seq.name}\nframe  true (dx, dy)  " + "  ".join(f"{n:>16s}" for n in names))
    shares: list[list[float]] = [[] for _ in names]
    for index, frame in enumerate(frames, start=1):
        (x0, y0), (sx, sy) = tracker.target.crop_grid()
        period = tracker.stage.period  # (rows, cols) in sample pixels
        on_target = iou(tracker.current_box(), Box(*gt[index - 1])) > args.on_target
        tracker.update(frame)
        cx, cy = gt[index, 0] + gt[index, 2] / 2, gt[index, 1] + gt[index, 3] / 2
        true = np.array([(cx - x0) / sx / period[1] - 0.5, (cy - y0) / sy / period[0] - 0.5])
        row = peaks[-1]
        if args.rows:
            print(
                f"{index:5d}  ({true[0]:+.3f}, {true[1]:+.3f})  "
                + "  ".join(f"({dx:+.3f}, {dy:+.3f})" for dx, dy in row)
            )
        norm = float(true @ true)
        if on_target and np.isfinite(norm) and norm >= args.min_step**2:
            for k, (dx, dy) in enumerate(row):
                shares[k].append(float(np.array([dx, dy]) @ true) / norm)
    return names, shares


def _summary(label: str, names: list[str], shares: list[list[float]]) -> str:
    if not shares[0]:
        return f"{label}: no frame on the target moved by --min-step"
    parts = ", ".join(f"{n} {np.median(v):.2f}" for n, v in zip(names, shares, strict=True))
    return f"{label}: median share of the true step: {parts} ({len(shares[0])} frames)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="benchmark folder (OTB layout)")
    ap.add_argument("-t", "--tracker", default="deepstrcf", help="a STRCF tracker name")
    ap.add_argument("--sequences", default=None, help="comma-separated subset (default: all)")
    ap.add_argument("--frames", type=int, default=None, help="the first N frames only")
    ap.add_argument("--min-step", type=float, default=0.05, help="see the module notes")
    ap.add_argument(
        "--on-target",
        type=float,
        default=0.5,
        help="count a step only from a box with this IoU with the truth (after a loss no "
        "block follows, whatever it is worth); 0 counts every step that starts overlapping it",
    )
    ap.add_argument("--rows", action="store_true", help="print every frame")
    ap.add_argument("--variant", default=None, help="a variants.py variant (names joined by +)")
    args = ap.parse_args(argv)
    if args.frames is not None and args.frames < 2:
        ap.error("--frames: at least 2 (one to start, one to step)")
    if args.variant:
        from variants import VARIANTS

        unknown = [n for n in args.variant.split("+") if n not in VARIANTS]
        if unknown:
            print(f"unknown variant {', '.join(unknown)}", file=sys.stderr)
            return 2
        for name in args.variant.split("+"):
            VARIANTS[name]()  # acts when the tracker is built, for the rest of this process

    from cftrack_cli.errors import CftrackError
    from cftrack_cli.evaluation.datasets import find_dataset
    from cftrack_cli.threads import set_library_threads

    set_library_threads(1)
    only = args.sequences.split(",") if args.sequences else None
    try:  # a wrong folder, sequence or tracker name is one line, as in cftrack itself
        sequences = find_dataset(args.dataset, only=only).sequences
    except CftrackError as exc:
        print(exc, file=sys.stderr)
        return 2
    pooled: list[list[float]] | None = None
    names: list[str] = []
    for seq in sequences:
        try:
            got = _shares(seq, args)
        except CftrackError as exc:
            print(exc, file=sys.stderr)
            return 2
        if got is None:
            print(f"{args.tracker} is not a STRCF tracker", file=sys.stderr)
            return 2
        names, shares = got
        print(_summary(seq.name, names, shares), flush=True)
        pooled = shares if pooled is None else [a + b for a, b in zip(pooled, shares, strict=True)]
    if pooled is not None:
        print(_summary("all", names, pooled))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
