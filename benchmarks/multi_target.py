"""How tracking time grows with the number of targets (``track --box A --box B ...``).

A benchmark, not a unit test. The shipped sample (``samples/bag.avi``) is decoded into memory;
for each target count K, K trackers (:class:`cftrack_cli.MultiTracker`) start on the
ground-truth box and K - 1 copies of it moved by a few pixels (same size, so each costs what
one target costs), and every update of every target over the clip is timed. Repeats are
interleaved (K = 1, 2, 4, 8, then again) and the median is reported: milliseconds per frame for
all K targets, per target, and that time against K = 1.

    taskset -c 0 .venv/bin/python benchmarks/multi_target.py -t eco-student,dcf --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

from cftrack_cli import MultiTracker  # noqa: E402
from cftrack_cli.bench import pin_to_cores  # noqa: E402
from cftrack_cli.boxes import Box  # noqa: E402
from cftrack_cli.io.annotations import first_box  # noqa: E402
from cftrack_cli.io.frames import open_frames  # noqa: E402
from cftrack_cli.machine import machine_info  # noqa: E402

SAMPLE = ROOT / "samples" / "bag.avi"
SAMPLE_GT = ROOT / "samples" / "bag_groundtruth_rect.txt"
#: Offsets (pixels) of the extra targets from the ground-truth box.
OFFSETS = [(0, 0), (-40, 0), (0, -40), (-40, -40), (-80, 0), (-80, -40), (-20, -80), (-60, -80)]


def seconds_per_frame(name: str, frames: list[np.ndarray], count: int) -> float:
    """Mean update time (all ``count`` targets) per frame over the clip after the first."""
    x, y, w, h = first_box(SAMPLE_GT)
    boxes = {i + 1: Box(x + dx, y + dy, w, h) for i, (dx, dy) in enumerate(OFFSETS[:count])}
    tracks = MultiTracker.create(name, ids=list(boxes))
    tracks.init(frames[0], boxes)
    start = time.perf_counter()
    for frame in frames[1:]:
        tracks.update(frame)
    return (time.perf_counter() - start) / (len(frames) - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-t", "--trackers", default="eco-student,dcf")
    parser.add_argument(
        "--counts", default="1,2,4,8", help=f"target counts, at most {len(OFFSETS)}"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    if max(counts) > len(OFFSETS) or min(counts) < 1:
        parser.error(f"target counts go from 1 to {len(OFFSETS)}")

    cores = pin_to_cores(1)  # one core, one thread per pool: the figures of `cftrack bench`
    with open_frames(SAMPLE) as source:
        frames = list(source)
    print(f"{SAMPLE.name}: {len(frames) - 1} timed frames; core {cores}; median of {args.repeats}")
    results = []
    for name in [n.strip() for n in args.trackers.split(",") if n.strip()]:
        runs: dict[int, list[float]] = {k: [] for k in counts}
        for _ in range(args.repeats):
            for k in counts:
                runs[k].append(seconds_per_frame(name, frames, k))
        base = statistics.median(runs[counts[0]]) / counts[0]
        print(f"{name}:")
        for k in counts:
            ms = statistics.median(runs[k]) * 1000
            row = {"tracker": name, "targets": k, "ms_per_frame": round(ms, 2)}
            row["ms_per_target"] = round(ms / k, 2)
            row["x_one_target"] = round(ms / 1000 / base, 2)
            results.append(row)
            print(
                f"  {k} targets: {ms:7.2f} ms/frame ({1000 / ms:6.1f} frames/s), "
                f"{ms / k:6.2f} ms per target, {row['x_one_target']:.2f} x one target"
            )
    if args.json is not None:
        report = {"sample": SAMPLE.name, "machine": machine_info(cores), "results": results}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
