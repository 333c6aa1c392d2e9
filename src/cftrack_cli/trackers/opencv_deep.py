"""OpenCV's deep trackers as peers: ``opencv-nano`` (NanoTrack v2) and ``opencv-vit`` (VitTrack).

Their ONNX files come from the user (see :mod:`cftrack_cli.trackers.peer_models`).

VitTrack in OpenCV 5.0.0 normalises its input wrongly with the default parameters: it turns
``stdvalue`` into scale factors as ``1.0 / stdvalue`` on a ``cv::Scalar``, which is a
quaternion inverse (conjugate over squared norm), so the G and R channels get negative, wrong
factors and the box drifts from the second frame. Passing the quaternion whose inverse is the
wanted reciprocals (:func:`quaternion_encoded_std`) restores the intended normalisation.
Whether the installed OpenCV has the fault is found by behaviour (:func:`std_is_per_channel`),
so an OpenCV that has it fixed gets the documented parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cftrack_cli.errors import UsageError
from cftrack_cli.trackers.opencv import OpenCVTracker, opencv_says
from cftrack_cli.trackers.peer_models import model_files
from cftrack_cli.trackers.registry import register

#: What the probe looks at: (ok, box, score) after one update.
Observation = tuple[bool, tuple[int, ...], float]


@contextmanager
def _opencv_quiet() -> Iterator[None]:
    """OpenCV's dnn warns on every net it loads ("Targets are not supported ..."): hush it."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def _create(name: str, create: Callable[[Any], Any], params: Any, files: list[Path]) -> Any:
    try:
        with _opencv_quiet():
            return create(params)
    except cv2.error as exc:
        shown = ", ".join(str(f) for f in files)
        raise UsageError(f"{name} cannot load {shown}: OpenCV says {opencv_says(exc)}") from None


def quaternion_encoded_std(std: Sequence[float]) -> tuple[float, float, float, float]:
    """The ``stdvalue`` whose quaternion inverse is ``(1/std0, 1/std1, 1/std2, 0)``.

    The inverse of q is conj(q) / |q|^2; with d the wanted reciprocals and n = |d|^2,
    q = (d0, -d1, -d2, 0) / n has conj(q) = (d0, d1, d2, 0) / n and |q|^2 = 1 / n.
    """
    d = [1.0 / float(s) for s in std[:3]]
    n = sum(v * v for v in d)
    return (d[0] / n, -d[1] / n, -d[2] / n, 0.0)


def std_is_per_channel(run: Callable[[tuple[float, ...]], Observation]) -> bool:
    """Whether a VitTrack set-up applies ``stdvalue`` channel by channel, as OpenCV documents.

    ``run(stdvalue)`` tracks one small synthetic step and returns what the tracker reported.
    The two stdvalues below differ only in the 4th component, which a 3-channel image never
    uses when the division is per channel, so the two runs agree exactly; as a quaternion the
    4th component changes every channel's factor, and they differ.
    """
    return run((1.0, 1.0, 1.0, 1.0)) == run((1.0, 1.0, 1.0, 2.0))


def _probe_frames() -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """A smooth random texture, and the same shifted by a few pixels, with a box to follow."""
    rng = np.random.default_rng(0)
    first = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (5, 5), 0)
    return first, np.roll(first, (3, 4), axis=(0, 1)), (40, 30, 40, 30)


def vit_runner(net: Path) -> Callable[[tuple[float, ...]], Observation]:
    """``run(stdvalue)`` for :func:`std_is_per_channel` with the real VitTrack ``net``."""
    first, second, box = _probe_frames()

    def run(std: tuple[float, ...]) -> Observation:
        params = cv2.TrackerVit_Params()
        params.net = str(net)
        params.stdvalue = std
        tracker = _create("opencv-vit", cv2.TrackerVit.create, params, [net])
        tracker.init(first, box)
        ok, rect = tracker.update(second)
        return bool(ok), tuple(int(v) for v in rect), float(tracker.getTrackingScore())

    return run


@functools.cache
def vit_std(net: Path) -> tuple[tuple[float, ...], str]:
    """The ``stdvalue`` that gives VitTrack its intended normalisation here, and a note on it."""
    documented = tuple(cv2.TrackerVit_Params().stdvalue)
    if std_is_per_channel(vit_runner(net)):
        return documented, "default parameters (this OpenCV applies stdvalue per channel)"
    return quaternion_encoded_std(documented), (
        f"stdvalue corrected for OpenCV {cv2.__version__}'s quaternion-inverse fault "
        "(found by a probe)"
    )


@register("opencv-nano", "peer: OpenCV NanoTrack v2 (ONNX files: --peer-models)")
def nanotrack(*, peer_models: str | None = None) -> OpenCVTracker:
    backbone, head = model_files("opencv-nano", peer_models)
    params = cv2.TrackerNano_Params()
    params.backbone, params.neckhead = str(backbone), str(head)
    make = functools.partial(
        _create, "opencv-nano", cv2.TrackerNano.create, params, [backbone, head]
    )
    details = {"model_files": [str(backbone), str(head)]}
    return OpenCVTracker(make, details=details, own_score=True).preload()


@register("opencv-vit", "peer: OpenCV VitTrack (ONNX file: --peer-models)")
def vittrack(*, peer_models: str | None = None) -> OpenCVTracker:
    (net,) = model_files("opencv-vit", peer_models)
    std, note = vit_std(net.resolve())
    params = cv2.TrackerVit_Params()
    params.net, params.stdvalue = str(net), std
    make = functools.partial(_create, "opencv-vit", cv2.TrackerVit.create, params, [net])
    details = {"model_files": [str(net)], "stdvalue": list(std), "configuration": note}
    tracker = OpenCVTracker(make, details=details, own_score=True).preload()
    tracker.setup_note = f"opencv-vit: {note}"
    return tracker
