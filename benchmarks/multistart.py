"""Mean success AUC over perturbed starts: accuracy comparisons that one run cannot settle.

On a handful of short sequences a single one-pass run of a tracker moves by about +-0.03 AUC
when its first box moves by one pixel, more than most differences worth measuring (one student
against another, a loss switched off). This script runs each tracker from the ground truth's
first box shifted by N small offsets (0 and +-1 px), scores every run with ``cftrack eval``'s
metrics, and reports per tracker the mean AUC over starts with its standard error (over the
per-start means across sequences), overall and per sequence. With several trackers it also gives
each one's difference to the first, paired start by start: two trackers from the same shifted
boxes share much of their luck, so the paired error is the one to read when ranking them.

    .venv/bin/python benchmarks/multistart.py ../shared/data/sequences \\
        -t eco-student,eco-student-online,eco-student@runs/ablation/tracking_only.pth --starts 8

Runs go to ``--workers`` processes of one thread each (``--workers 1``: this process, on one
thread). ``--keep DIR`` keeps each run's AUC
there as it finishes, with the machine that made it, so a killed command continues where it
stopped when run again (empty DIR when the code changes); kept runs from another machine or
library set are counted in a note, since a mix of them is not what a rerun gives. A benchmark,
not a unit test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

# First-box offsets (dx, dy) in pixels; the first is the plain OPE start.
OFFSETS = ((0, 0), (1, 0), (0, 1), (-1, -1), (-1, 0), (0, -1), (1, 1), (1, -1))


def _one_run(job: tuple[str, str, str, tuple[int, int]]) -> tuple[str, str, int, float]:
    """Track one sequence from a shifted first box; its success AUC."""
    tracker_name, dataset, sequence, offset = job
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from cftrack_cli.boxes import Box
    from cftrack_cli.evaluation.datasets import find_dataset
    from cftrack_cli.evaluation.metrics import score_sequence
    from cftrack_cli.io.frames import read_images
    from cftrack_cli.trackers import create_tracker
    from cftrack_cli.trackers.session import track_frames

    (seq,) = find_dataset(Path(dataset), only=[sequence]).sequences
    gt = np.asarray(seq.groundtruth, dtype=np.float64)
    start = gt[0].copy()
    start[:2] += offset
    tracker = create_tracker(tracker_name)
    boxes = [
        tuple(r.result.box) for r in track_frames(tracker, read_images(seq.frames), Box(*start))
    ]
    return (
        tracker_name,
        sequence,
        OFFSETS.index(offset),
        score_sequence(np.array(boxes), gt).success_auc,
    )


def _run_all(
    jobs: list[tuple[str, str, str, tuple[int, int]]], workers: int
) -> Iterator[tuple[str, str, int, float]]:
    """Each job's result as it finishes: in this process with one worker; else in forked
    workers, which inherit what benchmarks/variants.py changed before they start."""
    if workers <= 1:
        yield from map(_one_run, jobs)
        return
    with ProcessPoolExecutor(workers) as pool:
        for future in as_completed([pool.submit(_one_run, job) for job in jobs]):
            yield future.result()


def _kept_path(keep: Path, tracker: str, sequence: str, k: int) -> Path:
    """Where ``--keep`` holds one run's AUC (tracker names may hold paths: made file-safe)."""
    return keep / re.sub(r"[^A-Za-z0-9_.@-]+", "_", tracker) / f"{sequence}.start{k}.json"


def _mean_and_error(auc: np.ndarray) -> tuple[float, float]:
    """Mean AUC of a (starts, sequences) table and its standard error over the starts."""
    per_start = auc.mean(axis=1)
    return float(per_start.mean()), float(per_start.std(ddof=1) / np.sqrt(len(per_start)))


def _paired(auc: np.ndarray, reference: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Mean difference to ``reference`` (same starts, same sequences), its standard error over
    the starts, and the per-start differences. Pairing removes what the starts share: the
    first box's luck on each sequence moves both trackers."""
    difference = auc - reference
    return (*_mean_and_error(difference), difference.mean(axis=1))


def _families(manifest: Path, names: list[str]) -> dict[str, list[str]]:
    """Benchmark family -> the measured sequences in it, in manifest order."""
    entries = json.loads(manifest.read_text())["sequences"]
    out: dict[str, list[str]] = {}
    for entry in entries:
        if entry["name"] in names:
            out.setdefault(entry["family"], []).append(entry["name"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path, help="benchmark folder (any layout cftrack eval reads)")
    ap.add_argument("-t", "--trackers", required=True, help="comma-separated tracker names")
    ap.add_argument("--starts", type=int, default=8, choices=range(2, len(OFFSETS) + 1))
    ap.add_argument("--sequences", help="comma-separated subset (default: all)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--families",
        type=Path,
        help="a manifest naming each sequence's benchmark family (the dev benchmark's "
        "MANIFEST.json: sequences[].name, .family); adds a mean per family",
    )
    ap.add_argument("--keep", type=Path, help="keep each run's AUC here; reuse those found")
    args = ap.parse_args(argv)

    from cftrack_cli.evaluation.datasets import find_dataset
    from cftrack_cli.io.atomic import atomic_write_text
    from cftrack_cli.machine import (
        arithmetic_basis,
        describe_basis,
        describe_libraries,
        describe_machine,
        machine_info,
    )

    # Another CPU or library release can tip a knife-edge sequence: say which ran this.
    machine = machine_info([])
    print(f"host: {describe_machine(machine)}; {describe_libraries(machine)}", flush=True)
    only = args.sequences.split(",") if args.sequences else None
    names = [s.name for s in find_dataset(args.dataset, only=only).sequences]
    trackers = [t for t in args.trackers.split(",") if t]
    jobs = [
        (t, str(args.dataset), s, o)
        for t in trackers
        for s in names
        for o in OFFSETS[: args.starts]
    ]
    auc: dict[str, np.ndarray] = {t: np.full((args.starts, len(names)), np.nan) for t in trackers}
    basis = arithmetic_basis(machine)
    elsewhere: dict[str, int] = {}  # kept runs made on another machine or library set
    pending = []
    for job in jobs:
        tracker, _, sequence, offset = job
        k = OFFSETS.index(offset)
        kept = _kept_path(args.keep, tracker, sequence, k) if args.keep else None
        if kept is not None and kept.is_file():
            record = json.loads(kept.read_text())
            auc[tracker][k, names.index(sequence)] = record["success_auc"]
            if record.get("machine") != basis:
                other = record.get("machine")
                where = describe_basis(other) if other else "no record of the machine"
                elsewhere[where] = elsewhere.get(where, 0) + 1
        else:
            pending.append(job)
    for where, count in elsewhere.items():  # mixed runs: the figures will not come out again
        print(f"note: {count} kept runs are from elsewhere: {where}", flush=True)
    for tracker, sequence, k, value in _run_all(pending, args.workers):
        auc[tracker][k, names.index(sequence)] = value
        if args.keep:
            kept = _kept_path(args.keep, tracker, sequence, k)
            kept.parent.mkdir(parents=True, exist_ok=True)
            record = {"success_auc": value, "machine": basis}
            atomic_write_text(kept, json.dumps(record))  # whole or absent

    families = _families(args.families, names) if args.families else {}
    report = {}
    for t in trackers:
        mean, sem = _mean_and_error(auc[t])
        per_seq = dict(zip(names, auc[t].mean(axis=0).round(4).tolist(), strict=True))
        report[t] = {"success_auc": mean, "standard_error": sem, "sequences": per_seq}
        cells = " ".join(f"{s}={v:.3f}" for s, v in per_seq.items())
        print(f"{t}: AUC {mean:.3f} +- {sem:.3f} over {args.starts} starts | {cells}", flush=True)
        if families:
            report[t]["families"] = {}
            for family, members in families.items():
                columns = [names.index(s) for s in members]
                f_mean, f_sem = _mean_and_error(auc[t][:, columns])
                report[t]["families"][family] = {
                    "success_auc": f_mean,
                    "standard_error": f_sem,
                    "sequences": len(columns),
                }
                print(f"  {family} ({len(columns)}): {f_mean:.3f} +- {f_sem:.3f}", flush=True)
    if len(trackers) > 1 and args.starts > 1:
        first = trackers[0]
        for t in trackers[1:]:
            diff, sem, per_start = _paired(auc[t], auc[first])
            report[t]["paired_with_first"] = {
                "tracker": first,
                "difference": diff,
                "standard_error": sem,
                "per_start": per_start.tolist(),
            }
            starts = " ".join(f"{d:+.3f}" for d in per_start)
            print(f"{t} - {first}: {diff:+.3f} +- {sem:.3f} paired (per start: {starts})")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "starts": args.starts,
                    "machine": machine,
                    "kept_runs_from_elsewhere": elsewhere,
                    "trackers": report,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
