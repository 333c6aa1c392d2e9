"""A student network as an ONNX model: its taps as named outputs, its contract in metadata.

The graph's input ``input`` is ``(N, 3, H, W)`` float32, RGB, already prepared as the student
file says (``x = (pixel * scale - mean) / std`` per channel, pixels 0..255); ``H`` and ``W``
are free unless a fixed size is asked for. The one exception is a student that subtracts a
mean *image* (CF-VGGM): that image, resized as cftrack resizes it, is subtracted inside the
graph, which fixes the input size (the metadata says which). Everything a user of the file
needs without cftrack -- preprocessing, channel order, tap names, strides, offsets, the taps
``eco-student`` tracks with -- is in the model's ``metadata_props`` (see :func:`onnx_metadata`).

Built with torch's TorchScript-based exporter: it needs only the ``onnx`` package, while the
newer torch.export-based one also needs ``onnxscript``; and its opset-17 graphs of plain
Conv/ReLU/MaxPool load in OpenCV's DNN module old and new.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cftrack_cli import __version__
from cftrack_cli.errors import CftrackError, UsageError
from cftrack_cli.nets.preprocessing import Preprocessing
from cftrack_cli.nets.tapped import TappedNet

__all__ = [
    "FORMAT",
    "INPUT_NAME",
    "OPSET",
    "ExportSettings",
    "min_input_size",
    "onnx_metadata",
    "read_metadata",
    "require_onnx",
    "student_to_onnx",
]

FORMAT = "cftrack-student-onnx"
FORMAT_VERSION = 1
INPUT_NAME = "input"
OPSET = 17
#: The size the graph is traced at when the input size is free: eco-student's sample size.
TRACE_SIZE = (256, 256)


@dataclass(frozen=True)
class ExportSettings:
    """What to export beyond the network itself.

    ``input_size`` (H, W) fixes the input size; None leaves it free (a mean-image student
    then gets its mean image's own size). ``tracker_taps`` are the (tap, average-pool) pairs
    eco-student tracks with, recorded in the metadata; ``source`` names the student file.
    """

    input_size: tuple[int, int] | None = None
    tracker_taps: tuple[tuple[str, int], ...] = ()
    source: str = ""


def require_onnx() -> Any:
    """The ``onnx`` module, or a one-line error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise CftrackError(
            "exporting needs the onnx package: pip install 'cftrack[export]' (or: pip install onnx)"
        ) from None
    return onnx


def min_input_size(net: TappedNet, limit: int = 4096) -> int:
    """The smallest square input that gives every tap at least one cell."""
    deepest = list(net.taps)[-1]
    for side in range(1, limit + 1):
        try:
            net.output_size(deepest, (side, side))
        except ValueError:
            continue
        return side
    raise ValueError(f"no input up to {limit}x{limit} reaches {deepest}")


class _TapOutputs(nn.Module):
    """``x -> (tap, tap, ...)`` in network order, after the graph-side input offset if any."""

    def __init__(self, net: TappedNet, offset: torch.Tensor | None) -> None:
        super().__init__()
        self.net = net
        self.names = list(net.taps)
        self.offset = offset  # a traced constant, not a parameter

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.offset is not None:
            x = x + self.offset
        out = self.net(x, self.names)
        return tuple(out[name] for name in self.names)


def outside_preprocessing(prep: Preprocessing) -> Preprocessing:
    """The part of ``prep`` a user applies before the graph: all of it but a mean image."""
    return replace(prep, mean_image=None)


def _mean_image_offset(prep: Preprocessing, size: tuple[int, int]) -> torch.Tensor:
    """What the graph adds to the outside-prepared input to finish ``prep``: -mean_image/std,
    resized to ``size`` exactly as :class:`Preprocessing` resizes it (by running both)."""
    zeros = np.zeros((1, *size, 3), dtype=np.float32)
    return (prep(zeros) - outside_preprocessing(prep)(zeros)).contiguous()


def _input_size(net: TappedNet, prep: Preprocessing, settings: ExportSettings) -> tuple[int, int]:
    if settings.input_size is not None:
        size = settings.input_size
    elif prep.mean_image is not None:
        size = (int(prep.mean_image.shape[0]), int(prep.mean_image.shape[1]))
    else:
        return TRACE_SIZE
    smallest = min_input_size(net)
    if min(size) < smallest:
        raise UsageError(
            f"input size {size[0]}x{size[1]} is too small for this student "
            f"(at least {smallest}x{smallest})"
        )
    return size


def _csv(values: Sequence[Any]) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def onnx_metadata(
    net: TappedNet, prep: Preprocessing, settings: ExportSettings, fixed: tuple[int, int] | None
) -> dict[str, str]:
    """The model's ``metadata_props``: strings, comma-separated lists in tap order."""
    taps = list(net.taps.values())
    smallest = min_input_size(net)
    outside = outside_preprocessing(prep)
    # cv::dnn::blobFromImage computes (pixel - mean) * scalefactor: the same x, rearranged.
    blob_scale = [outside.scale / s for s in outside.std]
    blob_mean = [m / outside.scale for m in outside.mean]
    record = {
        "cftrack.format": FORMAT,
        "cftrack.format_version": str(FORMAT_VERSION),
        "cftrack.version": __version__,
        "source": settings.source,
        "input.name": INPUT_NAME,
        "input.layout": "NCHW",
        "input.dtype": "float32",
        "input.channel_order": "RGB",
        "input.size": f"{fixed[0]}x{fixed[1]}" if fixed else "dynamic",
        "input.min_size": f"{smallest}x{smallest}",
        "preprocessing": "x = (pixel * scale - mean) / std per channel, RGB pixels 0..255",
        "preprocessing.name": prep.name,
        "preprocessing.mean": _csv(outside.mean),
        "preprocessing.std": _csv(outside.std),
        "preprocessing.scale": f"{outside.scale:g}",
        "preprocessing.mean_image": (
            "none"
            if prep.mean_image is None
            else f"subtracted inside the graph, resized to {fixed[0]}x{fixed[1]}"  # type: ignore[index]
        ),
        "opencv.blob_scalefactor": _csv(blob_scale),
        "opencv.blob_mean": _csv(blob_mean),
        "opencv.blob_swap_rb": "true for BGR images (cv::imread, cv::VideoCapture)",
        "taps": _csv([t.name for t in taps]),
        "tap.channels": _csv([t.channels for t in taps]),
        "tap.strides": _csv([t.stride for t in taps]),
        "tap.offsets": _csv([float(t.offset) for t in taps]),
        "tap.receptive_fields": _csv([t.receptive_field for t in taps]),
        "tap.geometry": "cell i of a tap is centred on input pixel offset + stride * (i + 0.5)",
    }
    if settings.tracker_taps:
        record["tracker_taps"] = _csv([name for name, _ in settings.tracker_taps])
        record["tracker_tap_pools"] = _csv([pool for _, pool in settings.tracker_taps])
    return record


def student_to_onnx(net: TappedNet, settings: ExportSettings | None = None) -> bytes:
    """The serialised ONNX model of ``net`` (preprocessing from ``net.preprocessing``).

    Raises :class:`CftrackError` when ``onnx`` is missing or torch cannot export, and
    :class:`UsageError` for an impossible input size.
    """
    settings = settings or ExportSettings()
    onnx = require_onnx()
    prep = getattr(net, "preprocessing", None)
    if prep is None:
        raise UsageError("the student records no preprocessing; cannot describe its input")
    size = _input_size(net, prep, settings)
    fixed = size if settings.input_size is not None or prep.mean_image is not None else None
    offset = _mean_image_offset(prep, size) if prep.mean_image is not None else None
    names = list(net.taps)
    free = {0: "batch"} if fixed else {0: "batch", 2: "height", 3: "width"}
    dynamic = {INPUT_NAME: free}
    for name in names:
        dynamic[name] = {0: "batch"} if fixed else {0: "batch", 2: f"{name}_h", 3: f"{name}_w"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of one that needs onnxscript too.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _TapOutputs(net, offset).eval(),
                (torch.zeros(1, net.in_channels, *size),),
                buffer,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=names,
                dynamic_axes=dynamic,
                opset_version=OPSET,
                do_constant_folding=True,
            )
        except Exception as exc:  # torch's exporter raises many kinds; all mean "cannot"
            raise CftrackError(f"torch could not export the student to ONNX: {exc}") from None
    model = onnx.load_from_string(buffer.getvalue())
    model.doc_string = (
        f"cftrack student ({settings.source or 'unnamed'}): taps {', '.join(names)}; "
        "see metadata_props for the input's preparation and the taps' geometry"
    )
    for key, value in onnx_metadata(net, prep, settings, fixed).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()


def read_metadata(model: bytes | str | os.PathLike[str]) -> dict[str, str]:
    """An ONNX model's ``metadata_props`` as a dict (from its bytes or its file)."""
    onnx = require_onnx()
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    return {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
