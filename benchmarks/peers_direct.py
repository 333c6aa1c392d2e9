"""OpenCV's NanoTrack and VitTrack run directly, without cftrack: a check on ``cftrack eval``.

An independent path to the peers' success AUC: this script calls ``cv2.TrackerNano`` and
``cv2.TrackerVit`` itself on an OTB-layout folder (``<seq>/img/*.jpg`` and
``<seq>/groundtruth_rect.txt``), starts each from the ground truth's first box, keeps the last
box on a frame where ``update`` reports failure, and scores one-pass success AUC (mean over
IoU thresholds 0:0.05:1 of the fraction of frames with IoU above it; frames whose ground truth
is NaN or empty are not scored, the first frame is). It imports nothing from cftrack.

VitTrack: OpenCV 5.0.0 turns ``stdvalue`` into scale factors through a quaternion inverse,
so there it needs the corrected ``stdvalue`` of ``../shared/weights/peers/README.md``; 5.1.0
divides per channel and needs OpenCV's defaults. ``--vit-std auto`` (the default) picks by
version: corrected before 5.1, defaults from 5.1 on (only 5.0.0 and 5.1.0 were checked; cftrack
itself probes instead, docs/peer-models.md). ``corrected`` or ``default`` force one.

    .venv/bin/python benchmarks/peers_direct.py ../shared/data/sequences \\
        --peer-models ../shared/weights/peers --json peers_direct_result.json

compared with
    cftrack eval ../shared/data/sequences -t opencv-nano,opencv-vit \\
        --peer-models ../shared/weights/peers --workers 1
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
THRESHOLDS = np.linspace(0.0, 1.0, 21)


def corrected_vit_std() -> tuple[float, float, float, float]:
    """The quaternion whose inverse is (1/0.229, 1/0.224, 1/0.225, 0): the README's values."""
    d = np.array([1 / 0.229, 1 / 0.224, 1 / 0.225])
    n = float(d @ d)
    return (d[0] / n, -d[1] / n, -d[2] / n, 0.0)


def resolve_vit_std(choice: str) -> str:
    """``auto`` as ``corrected`` or ``default`` for this OpenCV (see the module's docstring)."""
    if choice != "auto":
        return choice
    major, minor = (int(part) for part in cv2.__version__.split(".")[:2])
    return "corrected" if (major, minor) < (5, 1) else "default"


def make_tracker(name: str, models: Path, vit_std: str):
    if name == "opencv-nano":
        params = cv2.TrackerNano_Params()
        params.backbone = str(models / "nanotrack/nanotrack_backbone_sim.onnx")
        params.neckhead = str(models / "nanotrack/nanotrack_head_sim.onnx")
        return cv2.TrackerNano.create(params)
    params = cv2.TrackerVit_Params()
    params.net = str(models / "vittrack/object_tracking_vittrack_2023sep.onnx")
    if vit_std == "corrected":
        params.stdvalue = corrected_vit_std()
    return cv2.TrackerVit.create(params)


def read_groundtruth(path: Path) -> np.ndarray:
    """OTB boxes (1-based x,y,w,h; commas, tabs or spaces) as 0-based float rows."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            rows.append([float(v) for v in re.split(r"[,\s]+", line.strip())[:4]])
    gt = np.array(rows, dtype=np.float64)
    gt[:, :2] -= 1.0
    return gt


def frame_files(folder: Path) -> list[Path]:
    def natural(p: Path) -> list:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]

    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=natural)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo = np.maximum(a[:, :2], b[:, :2])
    hi = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    ratio = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return np.clip(ratio, 0.0, 1.0)  # rounding can put a perfect overlap a hair above 1


def run_sequence(seq: Path, tracker_name: str, models: Path, vit_std: str) -> float:
    gt = read_groundtruth(seq / "groundtruth_rect.txt")
    frames = frame_files(seq / "img")
    n = min(len(gt), len(frames))
    scored = np.isfinite(gt[:n]).all(axis=1) & (gt[:n, 2] > 0) & (gt[:n, 3] > 0)
    start = int(np.flatnonzero(scored)[0])
    boxes = np.full((n, 4), np.nan)
    tracker = make_tracker(tracker_name, models, vit_std)
    x, y, w, h = (round(v) for v in gt[start])
    last = (x, y, max(1, w), max(1, h))
    tracker.init(cv2.imread(str(frames[start]), cv2.IMREAD_COLOR), last)
    boxes[start] = gt[start]  # the first frame scores its own ground truth
    for i in range(start + 1, n):
        try:
            ok, rect = tracker.update(cv2.imread(str(frames[i]), cv2.IMREAD_COLOR))
        except cv2.error:
            ok, rect = False, last
        if ok and rect[2] > 0 and rect[3] > 0:
            last = tuple(rect)
        boxes[i] = last
    use = scored & np.isfinite(boxes).all(axis=1)
    overlaps = np.zeros(n)
    overlaps[use] = iou(boxes[use], gt[:n][use])
    values = overlaps[scored]
    return float((values[:, None] > THRESHOLDS[None, :]).mean(axis=0).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path, help="OTB-layout folder of sequences")
    ap.add_argument("--peer-models", type=Path, required=True)
    ap.add_argument("-t", "--trackers", default="opencv-nano,opencv-vit")
    ap.add_argument(
        "--vit-std",
        choices=("auto", "corrected", "default"),
        default="auto",
        help="VitTrack's stdvalue: corrected before OpenCV 5.1, OpenCV's default from 5.1 (auto)",
    )
    ap.add_argument("--json", type=Path, help="write per-sequence and mean AUC here")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    names = [t.strip() for t in args.trackers.split(",") if t.strip()]
    if not set(names) <= {"opencv-nano", "opencv-vit"}:
        sys.exit("trackers: opencv-nano and/or opencv-vit")
    args.vit_std = resolve_vit_std(args.vit_std)
    if "opencv-vit" in names:
        print(f"opencv-vit: stdvalue {args.vit_std} (OpenCV {cv2.__version__})", file=sys.stderr)
    sequences = sorted(p for p in args.dataset.iterdir() if (p / "groundtruth_rect.txt").is_file())
    result: dict[str, dict[str, float]] = {}
    for name in names:
        per_seq = {s.name: run_sequence(s, name, args.peer_models, args.vit_std) for s in sequences}
        result[name] = {**per_seq, "mean": float(np.mean(list(per_seq.values())))}
    print(f"{'sequence':<16}" + "".join(f"{n:>14}" for n in names))
    for key in [*(s.name for s in sequences), "mean"]:
        print(f"{key:<16}" + "".join(f"{result[n][key]:>14.3f}" for n in names))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"opencv": cv2.__version__, "vit_std": args.vit_std, **result}, indent=2)
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
