"""Check an exported student the way a C++ user will run it: OpenCV's DNN module on a real image.

The image is prepared with ``cv::dnn::blobFromImageWithParams`` from the numbers in the model's
metadata (so the recipe written there is checked too), run through ``cv2.dnn``, and each tap
is compared with what PyTorch computes from the same pixels through cftrack's own
preprocessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from cftrack_cli.errors import CftrackError
from cftrack_cli.export.onnx_model import INPUT_NAME
from cftrack_cli.nets.tapped import TappedNet

__all__ = ["TOLERANCE", "TapCheck", "opencv_blob", "opencv_engines", "verify_in_opencv"]

#: Largest accepted |ONNX - PyTorch| per tap, relative to the tap's largest |PyTorch| value.
#: Measured differences are below 1e-6 of it (float32 rounding in other kernels, e.g.
#: OpenCV's Winograd 3x3 convolutions); a wrong layer or preprocessing is off by far more.
TOLERANCE = 1e-4
#: Below this a tap's values are taken as all zero, and compared in absolute terms.
_TINY = 1e-6


@dataclass(frozen=True)
class TapCheck:
    """One tap at one input size: the largest difference and what it is measured against."""

    tap: str
    size: tuple[int, int]  # (H, W) of the input
    engine: str  # OpenCV's DNN engine: classic, new (OpenCV 5) or default
    max_diff: float  # max |ONNX - PyTorch|
    peak: float  # max |PyTorch|
    tolerance: float  # the largest relative difference accepted

    @property
    def relative(self) -> float:
        return self.max_diff / max(self.peak, _TINY)

    @property
    def ok(self) -> bool:
        return self.relative <= self.tolerance


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def opencv_blob(bgr: np.ndarray, metadata: Mapping[str, str]) -> np.ndarray:
    """The network input for a BGR uint8 image, prepared by OpenCV from the model's metadata.

    What a C++ program does with ``cv::dnn::blobFromImageWithParams``; the image is used at
    its own size.
    """
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = tuple(_floats(metadata["opencv.blob_scalefactor"]))
    params.mean = tuple(_floats(metadata["opencv.blob_mean"]))
    params.swapRB = True
    params.ddepth = cv2.CV_32F  # NCHW is the default layout (its constant moved in OpenCV 5)
    return cv2.dnn.blobFromImageWithParams(bgr, params)


def opencv_engines() -> dict[str, int | None]:
    """The DNN engines this OpenCV has, by name: OpenCV 5 has its new graph engine and the
    classic one (what OpenCV 4 runs); an older build has only one, chosen by default (None)."""
    engines = {
        name: getattr(cv2.dnn, f"ENGINE_{name.upper()}", None) for name in ("classic", "new")
    }
    found = {name: value for name, value in engines.items() if value is not None}
    return found or {"default": None}


def _load(model: bytes, engine: int | None) -> cv2.dnn.Net:
    buffer = np.frombuffer(model, dtype=np.uint8)
    if engine is None:
        return cv2.dnn.readNetFromONNX(buffer)
    return cv2.dnn.readNetFromONNX(buffer, engine)


def verify_in_opencv(
    model: bytes,
    metadata: Mapping[str, str],
    net: TappedNet,
    image_rgb: np.ndarray,
    sizes: Sequence[tuple[int, int]],
    tolerance: float | None = None,
) -> list[TapCheck]:
    """Every tap's ONNX-versus-PyTorch difference on ``image_rgb`` resized to each (H, W), in
    each of OpenCV's DNN engines, judged against ``tolerance`` (default :data:`TOLERANCE`).

    Raises :class:`CftrackError` when OpenCV cannot load or run the model. The caller decides
    what to do with checks that fail (:attr:`TapCheck.ok`).
    """
    tolerance = TOLERANCE if tolerance is None else tolerance
    prep = net.preprocessing
    assert prep is not None  # the exporter has checked
    # All taps, always: OpenCV 5 returns every output of a model or none.
    names = list(net.taps)
    checks = []
    for engine, code in opencv_engines().items():
        try:
            dnn = _load(model, code)
        except cv2.error as exc:
            raise CftrackError(
                f"OpenCV's DNN module ({engine} engine) cannot load the model: {_first_line(exc)}"
            ) from None
        for h, w in sizes:
            patch = cv2.resize(image_rgb, (w, h), interpolation=cv2.INTER_AREA)
            with torch.inference_mode():
                expected = net(prep(patch[None]), names)
            bgr = cv2.cvtColor(patch, cv2.COLOR_RGB2BGR)
            dnn.setInput(opencv_blob(bgr, metadata), INPUT_NAME)
            try:
                outputs = dnn.forward(names)
            except cv2.error as exc:
                raise CftrackError(
                    f"OpenCV's DNN module ({engine} engine) cannot run the model at {h}x{w}: "
                    f"{_first_line(exc)}"
                ) from None
            for name, got in zip(names, outputs, strict=True):
                ref = expected[name].numpy()
                if got.shape != ref.shape:
                    raise CftrackError(
                        f"OpenCV ({engine} engine) gives {name} as {got.shape} at {h}x{w}, "
                        f"PyTorch as {ref.shape}"
                    )
                diff = float(np.abs(got - ref).max()) if ref.size else 0.0
                peak = float(np.abs(ref).max()) if ref.size else 0.0
                checks.append(TapCheck(name, (h, w), engine, diff, peak, tolerance))
    return checks


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
