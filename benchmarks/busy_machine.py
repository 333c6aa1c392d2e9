"""``cftrack track`` on an idle machine and then with every core busy: how much it slows.

A benchmark, not a unit test. For each ``--threads`` value it runs the same ``track`` command
twice, back to back: once as the machine is, once beside one busy-loop process per core
(``python -c 'while 1: pass'``, each in its own session like another program, stopped right
after). It reports the tracker's frames/s (the
summary line ``track`` prints: updates only, decoding excluded) and the wall time of each run,
and the busy run's frames/s as a fraction of the idle run's. On a shared machine read that
ratio, from one back-to-back pair, not the rates.

    .venv/bin/python benchmarks/busy_machine.py --threads 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "bag.avi"
BOX = "291,127,146,132"
SUMMARY = re.compile(r"at ([\d.]+) frames/s")


def track(threads: int, tracker: str) -> tuple[float, float]:
    """(frames/s from track's summary, wall seconds) of one run over the sample."""
    command = [
        sys.executable, "-m", "cftrack_cli", "track", str(SAMPLE), "--box", BOX,
        "-t", tracker, "--threads", str(threads), "--csv", "-", "--no-video",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - start
    found = SUMMARY.search(done.stderr)
    if found is None:
        raise SystemExit(f"no frames/s in track's output:\n{done.stderr}")
    return float(found.group(1)), wall


def busy_loops(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` busy loops, each in a session of its own, as other programs on the machine
    would be: Linux's autogroup scheduling shares the CPU between sessions first, so loops
    started in the benchmark's session would take their time from ``track`` alone."""
    command = [sys.executable, "-c", "while 1: pass"]
    return [subprocess.Popen(command, start_new_session=True) for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated --threads values")
    parser.add_argument("-t", "--tracker", default="eco-student")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    print(f"{SAMPLE.name}, {args.tracker}; busy = {cores} busy-loop processes ({cores} cores)")
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        idle_fps, idle_wall = track(threads, args.tracker)
        loops = busy_loops(cores)
        try:
            time.sleep(1.0)  # let the loops take their cores
            busy_fps, busy_wall = track(threads, args.tracker)
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
        row = {
            "threads": threads,
            "idle_fps": idle_fps,
            "busy_fps": busy_fps,
            "busy_over_idle": round(busy_fps / idle_fps, 2),
            "idle_wall_s": round(idle_wall, 1),
            "busy_wall_s": round(busy_wall, 1),
        }
        rows.append(row)
        print(
            f"--threads {threads}: idle {idle_fps:.1f} frames/s ({idle_wall:.1f} s), busy "
            f"{busy_fps:.1f} frames/s ({busy_wall:.1f} s): {row['busy_over_idle']:.2f} of idle"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"tracker": args.tracker, "rows": rows}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
