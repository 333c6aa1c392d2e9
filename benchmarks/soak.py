"""Soak: a long run (the shipped sample, looped) through a tracker, with memory sampled as it goes.

A benchmark, not a unit test: it takes minutes. It checks that a tracker's memory stays flat over
tens of thousands of frames (no per-frame growth: histories, caches, timers), through the same
library loop ``cftrack track`` uses (:func:`cftrack_cli.trackers.session.track_frames`).

    .venv/bin/python benchmarks/soak.py                         # dcf, 20,000 frames
    .venv/bin/python benchmarks/soak.py -t dcf,eco-hc --frames 20000 --json soak.json
    taskset -c 1 nice .venv/bin/python benchmarks/soak.py       # on a shared machine

The sample is played forwards then backwards (ping-pong), so the motion stays continuous, with
no jump back to frame 0 every 196 frames (whether a tracker still holds the target after 20,000
frames is not the point; its memory is). The decoded clip is held in memory (about 100 MB of the
RSS, with torch's import), so RSS figures start high. Resident memory is read every ``--every``
frames. Growth is measured after a warm-up (the first
``--warmup`` frames: allocator pools, feature tables, the first FFT plans) and the run fails
(exit 1) when it exceeds ``--max-growth-mb``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

from cftrack_cli.bench import pin_to_cores  # noqa: E402
from cftrack_cli.io.annotations import first_box  # noqa: E402
from cftrack_cli.io.frames import open_frames  # noqa: E402
from cftrack_cli.machine import machine_info  # noqa: E402
from cftrack_cli.trackers import create_tracker  # noqa: E402
from cftrack_cli.trackers.session import track_frames  # noqa: E402

SAMPLE = ROOT / "samples" / "bag.avi"
SAMPLE_GT = ROOT / "samples" / "bag_groundtruth_rect.txt"


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def ping_pong(frames: list[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """``n`` frames: forwards, backwards, forwards, ... without repeating the turning frames."""
    cycle = frames + frames[-2:0:-1]
    for i in range(n):
        yield cycle[i % len(cycle)]


def soak(name: str, frames: list[np.ndarray], n: int, every: int, warmup: int) -> dict:
    box = first_box(SAMPLE_GT)
    tracker = create_tracker(name)
    samples: list[tuple[int, float]] = []
    # Bounded, so the soak's own bookkeeping does not show up as the tracker's growth.
    first_scores: list[float] = []
    last_scores: deque[float] = deque(maxlen=1000)
    start_rss = rss_mb()
    t0 = time.perf_counter()
    update_seconds = 0.0
    for step in track_frames(tracker, ping_pong(frames, n), box):
        if step.index > 0:
            update_seconds += step.seconds
        if len(first_scores) < 1000:
            first_scores.append(step.result.score)
        last_scores.append(step.result.score)
        if step.index % every == 0 or step.index == n - 1:
            samples.append((step.index, rss_mb()))
            print(f"  {name}: frame {step.index:>6}  rss {samples[-1][1]:7.1f} MB", flush=True)
    wall = time.perf_counter() - t0
    after_warmup = [mb for i, mb in samples if i >= warmup]
    idx = np.array([i for i, _ in samples if i >= warmup], dtype=np.float64)
    slope = float(np.polyfit(idx, after_warmup, 1)[0]) * 10_000 if len(idx) > 2 else float("nan")
    return {
        "tracker": name,
        "frames": n,
        "fps": (n - 1) / update_seconds if update_seconds > 0 else None,
        "wall_seconds": round(wall, 1),
        "rss_mb_before_init": round(start_rss, 1),
        "rss_mb_after_warmup": round(after_warmup[0], 1),
        "rss_mb_end": round(samples[-1][1], 1),
        "rss_mb_peak": round(max(mb for _, mb in samples), 1),
        # The kernel's high-water mark (between samples too; for the whole process so far).
        "rss_mb_high_water": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "growth_mb_after_warmup": round(samples[-1][1] - after_warmup[0], 1),
        "slope_mb_per_10k_frames": round(slope, 2),
        "mean_score_first_1000": round(float(np.mean(first_scores)), 3),
        "mean_score_last_1000": round(float(np.mean(last_scores)), 3),
        "rss_samples": [[i, round(mb, 1)] for i, mb in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-t", "--trackers", default="dcf", help="comma-separated (default dcf)")
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=500, help="frames between RSS samples")
    parser.add_argument("--warmup", type=int, default=1_000, help="frames before growth counts")
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    cores = pin_to_cores(1)  # one core, one thread per pool: the figures of `cftrack bench`
    with open_frames(SAMPLE) as source:
        frames = list(source)
    print(f"{SAMPLE.name}: {len(frames)} frames, looped to {args.frames}; core {cores}")
    results = []
    for name in [n.strip() for n in args.trackers.split(",") if n.strip()]:
        result = soak(name, frames, args.frames, args.every, args.warmup)
        results.append(result)
        print(
            f"{name}: {result['fps']:.0f} frames/s; RSS {result['rss_mb_before_init']} MB before "
            f"init, {result['rss_mb_after_warmup']} after warm-up, {result['rss_mb_end']} at the "
            f"end, peak {result['rss_mb_peak']} (high-water {result['rss_mb_high_water']}); "
            f"growth {result['growth_mb_after_warmup']} MB "
            f"({result['slope_mb_per_10k_frames']} MB per 10k frames)",
            flush=True,
        )
    report = {"sample": SAMPLE.name, "machine": machine_info(cores), "results": results}
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    grew = [r["tracker"] for r in results if r["growth_mb_after_warmup"] > args.max_growth_mb]
    if grew:
        print(f"memory grew by more than {args.max_growth_mb} MB: {', '.join(grew)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
