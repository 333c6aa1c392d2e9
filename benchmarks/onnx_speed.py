"""Time the exported student in OpenCV's DNN module against the same student in PyTorch.

One forward pass at eco-student's 256x256 sample (a frame of the shipped bag.avi shrunk to it,
as ``cftrack bench --networks`` does), computing the taps eco-student tracks with, on one
pinned core with one thread in each library. Two views:

* ``network``: the prepared input in, the tap maps out (``net(x, taps)`` against
  ``dnn.setInput(blob); dnn.forward(taps)``);
* ``patch to features``: an RGB uint8 patch in, numpy tap maps out, preparation included
  (cftrack's :class:`Preprocessing` against ``cv2.dnn.blobFromImageWithParams``).

The variants run in turns within each repeat (so a slow spell of the shared machine hits all
of them); the median of the repeats is reported. A benchmark, not a test.

    taskset -c 0 .venv/bin/python benchmarks/onnx_speed.py [STUDENT.pth] [--repeats 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

from cftrack_cli.bench import pin_to_cores  # noqa: E402
from cftrack_cli.export import (  # noqa: E402
    ExportSettings,
    opencv_engines,
    read_metadata,
    student_to_onnx,
)
from cftrack_cli.machine import machine_info  # noqa: E402
from cftrack_cli.nets.weights import load_student  # noqa: E402
from cftrack_cli.trackers.networks import default_student_path, student_taps  # noqa: E402

SAMPLE_PX = 256  # eco-student's sample side (docs/results.md, "the networks alone")


def _rgb_blob(metadata: dict[str, str]) -> Callable[[np.ndarray], np.ndarray]:
    """OpenCV's preparation of an RGB patch from the model's metadata (no channel swap)."""
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = tuple(float(v) for v in metadata["opencv.blob_scalefactor"].split(","))
    params.mean = tuple(float(v) for v in metadata["opencv.blob_mean"].split(","))
    params.ddepth = cv2.CV_32F
    return lambda patch: cv2.dnn.blobFromImageWithParams(patch, params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("student", nargs="?", type=Path, help="student file (default: shipped)")
    ap.add_argument("--repeats", type=int, default=300, help="timed turns of every variant")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    cores = pin_to_cores(1)  # one thread in torch and OpenCV, on the first allowed core
    weights = args.student or default_student_path()
    net, meta = load_student(weights)
    taps = [t.name for t in student_taps(net, meta)]
    model = student_to_onnx(net, ExportSettings(source=weights.name))
    metadata = read_metadata(model)
    buffer = np.frombuffer(model, dtype=np.uint8)
    engines = {
        f"OpenCV {name}": cv2.dnn.readNetFromONNX(buffer, *([] if code is None else [code]))
        for name, code in opencv_engines().items()
    }
    # OpenCV 5 returns all of a model's outputs or none; the student's taps all lie on the
    # way to its deepest one, so asking for all of them costs no extra layer.
    outputs = metadata["taps"].split(",")
    picked = [outputs.index(t) for t in taps]

    cap = cv2.VideoCapture(str(ROOT / "samples" / "bag.avi"))
    ok, bgr = cap.read()
    cap.release()
    if not ok:
        sys.exit("samples/bag.avi: cannot read a frame")
    px = SAMPLE_PX
    patch = cv2.cvtColor(cv2.resize(bgr, (px, px), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    prep = net.preprocessing
    blob_of = _rgb_blob(metadata)
    x = prep(patch[None])  # channels-last, as eco-student feeds it
    blob = blob_of(patch)

    def torch_network() -> list[np.ndarray]:
        with torch.inference_mode():
            return [t.numpy() for t in net(x, taps).values()]

    def torch_features() -> list[np.ndarray]:
        with torch.inference_mode():
            return [t.numpy() for t in net(prep(patch[None]), taps).values()]

    def opencv(dnn: cv2.dnn.Net, prepared: bool) -> Callable[[], list[np.ndarray]]:
        def run() -> list[np.ndarray]:
            dnn.setInput(blob if prepared else blob_of(patch))
            maps = dnn.forward(outputs)
            return [maps[i] for i in picked]

        return run

    variants: dict[tuple[str, str], Callable[[], list[np.ndarray]]] = {
        ("network", "PyTorch"): torch_network,
        **{("network", name): opencv(dnn, True) for name, dnn in engines.items()},
        ("patch to features", "PyTorch"): torch_features,
        **{("patch to features", name): opencv(dnn, False) for name, dnn in engines.items()},
    }
    # The same maps every way, or the timing compares different work.
    ref = torch_network()
    max_diff = max(
        float(np.abs(a - b).max())
        for fn in variants.values()
        for a, b in zip(ref, fn(), strict=True)
    )
    for fn in variants.values():  # warm-up: first-call allocations, lazy initialisation
        for _ in range(20):
            fn()
    seconds: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
    for _ in range(args.repeats):
        for key, fn in variants.items():
            start = time.perf_counter()
            fn()
            seconds[key].append(time.perf_counter() - start)

    ms = {key: 1000.0 * statistics.median(v) for key, v in seconds.items()}
    print(
        f"{weights.name}, taps {', '.join(taps)}, {px}x{px} input, 1 thread on core {cores}, "
        f"median of {args.repeats} interleaved repeats; torch {torch.__version__}, "
        f"OpenCV {cv2.__version__}; max |OpenCV - PyTorch| {max_diff:.1e}"
    )
    columns = ["PyTorch", *engines]
    print(
        f"{'ms':18}"
        + "".join(f"{c:>16}" for c in columns)
        + "".join(f"{c + ' / PyTorch':>26}" for c in engines)
    )
    for view in ("network", "patch to features"):
        t = ms[(view, "PyTorch")]
        row = "".join(f"{ms[(view, c)]:16.3f}" for c in columns)
        ratios = "".join(f"{ms[(view, c)] / t:26.2f}" for c in engines)
        print(f"{view:18}{row}{ratios}")
    if args.json:
        report = {
            "student": str(weights),
            "taps": taps,
            "input_px": px,
            "repeats": args.repeats,
            "ms": {f"{view} / {lib}": v for (view, lib), v in ms.items()},
            "max_abs_diff": max_diff,
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "machine": machine_info(cores),
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
