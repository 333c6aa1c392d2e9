"""Time the scale filter's sampling: 17 windows cut one by one versus one shrink and warps.

For each frame size and target, one set of 17 scale windows (fDSST's factors 1.02^-8..8) is
sampled by ``crop_resize`` per window (fDSST's way) and by ``crop_resize_scales`` (what the
trackers use); the median over repeats, in ms per set, on one thread. A benchmark, not a test.

    taskset -c 0 .venv/bin/python benchmarks/scale_sampling.py
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run from a checkout

from cftrack_cli.cf.scale import ScaleParams
from cftrack_cli.features.patches import crop_resize, crop_resize_scales

# (frame w, h), (target w, h)
CASES = (((480, 360), (146, 132)), ((640, 480), (60, 40)), ((1280, 720), (200, 150)),
         ((1920, 1080), (400, 300)))  # fmt: skip
FACTORS = 1.02 ** np.arange(-8, 9)


def _one_by_one(frame, centre, sizes, out):
    return [crop_resize(frame, centre, tuple(s), out) for s in sizes]


def _median_ms(fn, call_args: tuple, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*call_args)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    max_area = ScaleParams().model_max_area
    print("frame       target    per window ms  one shrink ms  ratio")
    for (fw, fh), target in CASES:
        frame = rng.integers(0, 256, (fh, fw, 3), dtype=np.uint8)
        centre = (fw / 2 + 0.3, fh / 2 + 0.6)
        shrink = min(1.0, math.sqrt(max_area / (target[0] * target[1])))
        out = tuple(int(max(8, 4 * round(s * shrink / 4))) for s in target)
        sizes = np.outer(FACTORS, target)
        call_args = (frame, centre, sizes, out)
        one_by_one = _median_ms(_one_by_one, call_args, args.repeats)
        stacked = _median_ms(crop_resize_scales, call_args, args.repeats)
        frame_txt, target_txt = f"{fw}x{fh}", f"{target[0]}x{target[1]}"
        print(
            f"{frame_txt:<11} {target_txt:<9} {one_by_one:13.2f}  {stacked:13.2f}"
            f"  {one_by_one / stacked:5.1f}x"
        )


if __name__ == "__main__":
    main()
