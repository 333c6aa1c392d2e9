"""The mean square per element of the maps ``deepstrcf`` reads (its mid-level layer at stride
16) once each channel is scaled to [0, 1] over the sample (min-max), as the original DeepSTRCF
scales its CNN features: the ``CNN_FEATURE_ENERGY`` that ``deepstrcf``'s block units other than
"shared" are given against.

Samples are 250 px squares of 4.5 times the target's side, at the first and middle frame of
every sequence of a dataset (default: the distillation corpus, never the dev benchmark).

    .venv/bin/python benchmarks/cnn_feature_energy.py [--teacher] [DATASET]

``--teacher`` adds VGG16 (``CFTRACK_TEACHER_WEIGHTS``). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing

SIDE = 250  # sample pixels, DeepSTRCF's largest sample area is 250^2
SEARCH = 4.5  # DeepSTRCF's search area scale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "dataset", nargs="?", type=Path, default=Path("../shared/data/distill/sequences")
    )
    ap.add_argument("--teacher", action="store_true")
    args = ap.parse_args(argv)

    import cv2
    import numpy as np

    from cftrack_cli.evaluation.datasets import find_dataset
    from cftrack_cli.io.frames import read_image
    from cftrack_cli.trackers.networks import mid_level_tap, student_backend, teacher_backend

    backends = {"student": mid_level_tap(student_backend(None)[0])}
    if args.teacher:
        backends["VGG16"] = mid_level_tap(teacher_backend(None, None)[0])
    sequences = find_dataset(args.dataset).sequences
    for name, backend in backends.items():
        energies = []
        for seq in sequences:
            for index in (0, len(seq.frames) // 2):
                x, y, w, h = seq.groundtruth[index]
                zoom = SIDE / (SEARCH * np.sqrt(w * h))
                cx, cy = x + w / 2, y + h / 2
                warp = np.array([[zoom, 0, SIDE / 2 - cx * zoom], [0, zoom, SIDE / 2 - cy * zoom]])
                patch = cv2.warpAffine(
                    read_image(seq.frames[index]),
                    warp,
                    (SIDE, SIDE),
                    borderMode=cv2.BORDER_REPLICATE,
                )
                (maps,) = backend.maps(patch[None]).values()  # aligned and pooled
                m = maps[0]
                low = m.min(axis=(1, 2), keepdims=True)
                high = m.max(axis=(1, 2), keepdims=True) + 1e-7
                energies.append(float((((m - low) / (high - low)) ** 2).mean()))
        print(
            f"{name}: {np.mean(energies):.4f} (sd {np.std(energies):.4f} over {len(energies)} "
            f"samples, {m.shape[0]} channels)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
