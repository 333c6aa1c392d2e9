"""Boxes and scores of every tracker over a benchmark, saved, and compared against a reference.

Restructuring commits must change no box. Record a reference from the code before the change,
then compare the code after it:

    .venv/bin/python benchmarks/identical_boxes.py record ../shared/data/sequences ref.npz \\
        --teacher-weights ../shared/weights/vgg16_imagenet_features_fp16.pth
    .venv/bin/python benchmarks/identical_boxes.py compare ../shared/data/sequences ref.npz \\
        --teacher-weights ../shared/weights/vgg16_imagenet_features_fp16.pth

``compare`` prints, per tracker, the largest absolute difference of boxes and of scores over
every frame of every sequence (0.0 means bit-identical output) and exits 1 when any differs.
``diff REF.npz NEW.npz`` does the same for two recordings (the slow teacher can be recorded
from two checkouts side by side).
Trackers that cannot run here (a missing OpenCV peer, no teacher weights) are skipped and
named. Compare runs trackers and sequences in the order record does: OpenCV's MIL carries
state from one run to the next within a process, so its boxes depend on that order.
``--frames N`` limits every sequence to its first N frames (``--teacher-frames`` the
teacher alone, which runs at about 5 frames/s); compare uses what the reference holds. One
thread, one process: results must not depend on either, and the machine is shared.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

#: The trackers checked: every registered one that needs nothing more than ../shared.
DEFAULT_TRACKERS = (
    "eco-hc",
    "dcf",
    "eco-student",
    "eco-student-online",
    "eco-teacher",
    "eco-student@{shared}/weights/cf_vggm_student.pth",
)


def _one_thread() -> None:
    import cv2
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _trackers(shared: Path, names: str | None) -> list[str]:
    from cftrack_cli.trackers import tracker_names

    if names:
        return names.split(",")
    chosen = [n.format(shared=shared) for n in DEFAULT_TRACKERS]
    return chosen + [n for n in tracker_names() if n.startswith("opencv-")]


def _run(name: str, sequences: list, frames: int | None, teacher_weights: str | None):
    """(boxes (N, 4), scores (N,)) per sequence name, or a reason the tracker cannot run."""
    from cftrack_cli.boxes import Box
    from cftrack_cli.errors import CftrackError
    from cftrack_cli.io.frames import read_images
    from cftrack_cli.trackers import create_tracker
    from cftrack_cli.trackers.session import track_frames

    out = {}
    for seq in sequences:
        try:
            tracker = create_tracker(name, teacher_weights=teacher_weights)
        except CftrackError as exc:
            return f"skipped: {exc}"
        start = Box(*map(float, seq.groundtruth[0]))
        results = [r.result for r in track_frames(tracker, read_images(seq.frames), start, frames)]
        boxes = np.array([tuple(r.box) for r in results], dtype=np.float64)
        scores = np.array([r.score for r in results], dtype=np.float64)
        out[seq.name] = (boxes, scores)
    return out


def _key(tracker: str, sequence: str, what: str) -> str:
    return f"{tracker}|{sequence}|{what}"


def record(args: argparse.Namespace) -> int:
    from cftrack_cli.evaluation.datasets import find_dataset

    sequences = find_dataset(args.dataset).sequences
    arrays: dict[str, np.ndarray] = {}
    if args.out.exists() and args.append:
        arrays.update(np.load(args.out))
    for name in _trackers(args.dataset.parents[1], args.trackers):
        frames = args.teacher_frames if name.startswith("eco-teacher") else args.frames
        t0 = time.perf_counter()
        got = _run(name, sequences, frames, args.teacher_weights)
        if isinstance(got, str):
            print(f"{name:60s} {got}", flush=True)
            continue
        for seq, (boxes, scores) in got.items():
            arrays[_key(name, seq, "boxes")] = boxes
            arrays[_key(name, seq, "scores")] = scores
        n = sum(len(b) for b, _ in got.values())
        print(f"{name:60s} {n:6d} frames  {time.perf_counter() - t0:7.1f} s", flush=True)
    np.savez(args.out, **arrays)
    return 0


def compare(args: argparse.Namespace) -> int:
    from cftrack_cli.evaluation.datasets import find_dataset

    ref = np.load(args.reference)
    by_tracker: dict[str, dict[str, int]] = {}
    for key in ref.files:
        tracker, seq, what = key.split("|")
        if what == "boxes":
            by_tracker.setdefault(tracker, {})[seq] = len(ref[key])
    dataset = find_dataset(args.dataset).sequences
    differs = False
    print(f"{'tracker':60s} {'frames':>6s} {'max |box diff|':>15s} {'max |score diff|':>17s}")
    # Trackers and sequences in record's order: OpenCV's MIL keeps state from one run to the
    # next in a process, so its boxes depend on which sequences it ran before.
    for tracker in _trackers(args.dataset.parents[1], args.trackers):
        lengths = by_tracker.get(tracker)
        if lengths is None:
            print(f"{tracker:60s} not in the reference")
            continue
        limit = max(lengths.values())  # the reference's frames (shorter sequences end)
        got = _run(tracker, [s for s in dataset if s.name in lengths], limit, args.teacher_weights)
        if isinstance(got, str):
            print(f"{tracker:60s} {got}")
            differs = True
            continue
        pairs = [
            (boxes, ref[_key(tracker, seq, "boxes")], scores, ref[_key(tracker, seq, "scores")])
            for seq, (boxes, scores) in got.items()
        ]
        differs |= _report(tracker, pairs)
    print("IDENTICAL" if not differs else "DIFFERENT")
    return 1 if differs else 0


def _report(
    tracker: str, pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
) -> bool:
    """Print one tracker's line from (boxes, ref boxes, scores, ref scores) per sequence; True
    when anything differs."""
    box_diff = score_diff = 0.0
    n = 0
    for boxes, ref_boxes, scores, ref_scores in pairs:
        if boxes.shape != ref_boxes.shape:
            box_diff = score_diff = float("inf")
            continue
        box_diff = max(box_diff, float(np.max(np.abs(boxes - ref_boxes))))
        score_diff = max(score_diff, float(np.max(np.abs(scores - ref_scores))))
        n += len(boxes)
    print(f"{tracker:60s} {n:6d} {box_diff:15.3g} {score_diff:17.3g}", flush=True)
    return box_diff != 0.0 or score_diff != 0.0


def diff(args: argparse.Namespace) -> int:
    ref, new = np.load(args.reference), np.load(args.new)
    print(f"{'tracker':60s} {'frames':>6s} {'max |box diff|':>15s} {'max |score diff|':>17s}")
    trackers = sorted({k.split("|")[0] for k in ref.files})
    differs = False
    for tracker in trackers:
        seqs = sorted({k.split("|")[1] for k in ref.files if k.startswith(tracker + "|")})
        if any(_key(tracker, s, "boxes") not in new.files for s in seqs):
            print(f"{tracker:60s} missing from {args.new}")
            differs = True
            continue
        pairs = [
            (
                new[_key(tracker, s, "boxes")],
                ref[_key(tracker, s, "boxes")],
                new[_key(tracker, s, "scores")],
                ref[_key(tracker, s, "scores")],
            )
            for s in seqs
        ]
        differs |= _report(tracker, pairs)
    print("IDENTICAL" if not differs else "DIFFERENT")
    return 1 if differs else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    for mode in ("record", "compare"):
        p = sub.add_parser(mode)
        p.add_argument("dataset", type=Path, help="benchmark folder (OTB layout)")
        p.add_argument("reference" if mode == "compare" else "out", type=Path, help=".npz file")
        p.add_argument("-t", "--trackers", help="comma-separated names (default: all that run)")
        p.add_argument("--teacher-weights", help="VGG16 teacher file for eco-teacher")
    rec = sub.choices["record"]
    rec.add_argument("--frames", type=int, help="first N frames of each sequence only")
    rec.add_argument("--teacher-frames", type=int, help="the same, for eco-teacher alone")
    rec.add_argument("--append", action="store_true", help="keep the file's other trackers")
    two = sub.add_parser("diff")
    two.add_argument("reference", type=Path, help="the reference recording (.npz)")
    two.add_argument("new", type=Path, help="the recording to check (.npz)")
    args = ap.parse_args(argv)
    if args.mode == "diff":
        return diff(args)
    _one_thread()
    return record(args) if args.mode == "record" else compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
