"""Where to put a tracker's ``lost_threshold``: the share of tracked and of failed frames whose
score falls below each candidate threshold, from ``cftrack eval`` results.

Frames are split as ``cftrack eval``'s failure detection splits them (IoU > 0.3 tracked,
IoU < 0.05 failed), pooled over the sequences that have results:

    .venv/bin/python benchmarks/lost_threshold.py RESULTS_DIR DATASET -t strcf,deepstrcf

A benchmark, not a test: choose on development sequences, then measure elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

THRESHOLDS = (0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path, help="cftrack eval's --results-dir")
    ap.add_argument("dataset", type=Path, help="the dataset those results are for")
    ap.add_argument("-t", "--trackers", required=True, help="comma-separated tracker names")
    args = ap.parse_args(argv)

    from cftrack_cli.evaluation.datasets import find_dataset
    from cftrack_cli.evaluation.failure import failure_frames, pool
    from cftrack_cli.evaluation.results import SCORES_DIR

    sequences = find_dataset(args.dataset).sequences
    for tracker in args.trackers.split(","):
        parts = []
        for seq in sequences:
            boxes = args.results / tracker / f"{seq.name}.txt"
            if not boxes.exists():
                continue
            scores = np.loadtxt(
                args.results / tracker / SCORES_DIR / f"{seq.name}_score.txt",
                delimiter=",",
                ndmin=2,
            )
            gt = np.asarray(seq.groundtruth, dtype=np.float64)
            parts.append(failure_frames(np.loadtxt(boxes, delimiter=","), gt, scores[:, 0], None))
        frames = pool(parts)
        if frames is None:
            print(f"{tracker}: no results")
            continue
        tracked, failed = frames.tracked_scores, frames.failed_scores
        print(
            f"{tracker}: {len(parts)} sequences, {len(tracked)} tracked / {len(failed)} failed "
            f"frames, score AUROC {frames.score_auroc:.3f}"
        )
        for t in THRESHOLDS:
            print(
                f"  below {t:.2f}: {np.mean(tracked < t):.3f} of tracked, "
                f"{np.mean(failed < t):.3f} of failed frames"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
