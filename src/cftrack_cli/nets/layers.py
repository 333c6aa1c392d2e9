"""A small declarative language for plain feed-forward CNNs, and its arithmetic.

A network is a list of layer dicts, run in order (input RGB, 3 channels):

* ``{"type": "conv", "name": "conv1", "out": 16, "kernel": 3, "stride": 1, "pad": 1}``
  (``dilation`` optional). ``name`` is the parameters' key prefix (``conv1.weight``).
* ``{"type": "relu"}``
* ``{"type": "lrn", "size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}``, torch's convention
  (``alpha`` is divided by ``size``; MatConvNet's alpha is torch's / size).
* ``{"type": "maxpool" | "avgpool", "kernel": 2, "stride": 2, "pad": 0}``
* ``{"type": "tap", "name": "conv4_3"}``: the output at this point is a named feature map.

``pad`` is an int (all sides), ``[before, after]`` (both axes) or MatConvNet's
``[top, bottom, left, right]`` with top == left and bottom == right: the arithmetic below keeps
one geometry for both axes. Max-pool padding is -inf (padded cells never win), average-pool
padding is zero and counted.

Geometry convention (used by the feature extractors to align feature cells with pixels):
pixel ``p`` covers ``[p, p + 1)``. A map of stride ``s`` has cell ``i`` centred (its receptive
field's centre) at ``offset + s * (i + 0.5)``; ``offset == 0`` means cell ``i`` is centred on
the pixel block ``[i * s, (i + 1) * s)``, which is what the CF trackers assume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ChannelLRN",
    "Geometry",
    "TapInfo",
    "build_module",
    "count_spec_macs",
    "count_spec_parameters",
    "normalise_spec",
    "output_hw",
    "spec_taps",
    "trace",
]

LAYER_TYPES = ("conv", "relu", "lrn", "maxpool", "avgpool", "tap")
_FIELDS = {
    "conv": ("type", "name", "out", "kernel", "stride", "pad", "dilation"),
    "relu": ("type",),
    "lrn": ("type", "size", "alpha", "beta", "k"),
    "maxpool": ("type", "kernel", "stride", "pad"),
    "avgpool": ("type", "kernel", "stride", "pad"),
    "tap": ("type", "name"),
}


@dataclass(frozen=True)
class Geometry:
    """Where a feature map sits on the input image (see the module notes)."""

    channels: int
    stride: int  # pixels per cell
    offset: float  # receptive-field centre of cell i is offset + stride * (i + 0.5)
    receptive_field: int  # pixels, along each axis


@dataclass(frozen=True)
class TapInfo:
    """A named feature map a network can output."""

    name: str
    channels: int
    stride: int
    offset: float
    receptive_field: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channels": self.channels,
            "stride": self.stride,
            "offset": self.offset,
            "receptive_field": self.receptive_field,
        }


def _int(entry: Mapping[str, Any], key: str, default: int | None = None, minimum: int = 1) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"layer {dict(entry)}: {key!r} must be an integer >= {minimum}")
    return value


def _pad(entry: Mapping[str, Any]) -> list[int]:
    """``pad`` as ``[before, after]`` (the same on both axes)."""
    pad = entry.get("pad", 0)
    if isinstance(pad, int) and not isinstance(pad, bool):
        values = [pad, pad]
    elif isinstance(pad, Sequence) and len(pad) == 2:
        values = list(pad)
    elif isinstance(pad, Sequence) and len(pad) == 4:
        top, bottom, left, right = pad
        if (top, bottom) != (left, right):
            raise ValueError(f"layer {dict(entry)}: pad must be the same on both axes")
        values = [top, bottom]
    else:
        raise ValueError(f"layer {dict(entry)}: pad must be an int, [before, after] or [t,b,l,r]")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
        raise ValueError(f"layer {dict(entry)}: pad values must be integers >= 0")
    return values


def normalise_spec(spec: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A validated copy of ``spec`` with every field filled in (plain ints, floats, strings).

    Raises ValueError naming the offending layer.
    """
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for raw in spec:
        if not isinstance(raw, Mapping) or raw.get("type") not in LAYER_TYPES:
            raise ValueError(f"layer {raw!r}: 'type' must be one of {', '.join(LAYER_TYPES)}")
        kind = raw["type"]
        entry: dict[str, Any] = {"type": kind}
        if kind in ("conv", "tap"):
            name = raw.get("name")
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"layer {dict(raw)}: 'name' must be a Python identifier")
            if name in names:
                raise ValueError(f"layer name {name!r} is used twice")
            names.add(name)
            entry["name"] = name
        if kind == "conv":
            entry["out"] = _int(raw, "out")
            entry["kernel"] = _int(raw, "kernel")
            entry["stride"] = _int(raw, "stride", 1)
            entry["pad"] = _pad(raw)
            entry["dilation"] = _int(raw, "dilation", 1)
        elif kind in ("maxpool", "avgpool"):
            entry["kernel"] = _int(raw, "kernel")
            entry["stride"] = _int(raw, "stride", entry["kernel"])
            entry["pad"] = _pad(raw)
        elif kind == "lrn":
            entry["size"] = _int(raw, "size")
            for key in ("alpha", "beta", "k"):
                value = raw.get(key)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"layer {dict(raw)}: {key!r} must be a number")
                entry[key] = float(value)
        unknown = set(raw) - set(_FIELDS[kind])
        if unknown:
            raise ValueError(f"layer {dict(raw)}: unknown fields {sorted(unknown)}")
        out.append(entry)
    return out


def _window(entry: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(effective kernel, stride, pad before, pad after) of a conv or pool."""
    span = entry.get("dilation", 1) * (entry["kernel"] - 1) + 1
    return span, entry["stride"], entry["pad"][0], entry["pad"][1]


def trace(spec: Sequence[Mapping[str, Any]], in_channels: int = 3) -> list[Geometry]:
    """The geometry after each layer of a normalised spec (size-independent)."""
    geo = Geometry(in_channels, 1, 0.0, 1)
    centre = 0.5  # receptive-field centre of cell 0, in pixels
    out = []
    for entry in spec:
        kind = entry["type"]
        if kind in ("conv", "maxpool", "avgpool"):
            span, stride, before, _ = _window(entry)
            centre += geo.stride * ((span - 1) / 2.0 - before)
            channels = entry["out"] if kind == "conv" else geo.channels
            rf = geo.receptive_field + (span - 1) * geo.stride
            new_stride = geo.stride * stride
            geo = Geometry(channels, new_stride, centre - new_stride / 2.0, rf)
        out.append(geo)
    return out


def _step_hw(entry: Mapping[str, Any], h: int, w: int) -> tuple[int, int]:
    if entry["type"] in ("conv", "maxpool", "avgpool"):
        span, stride, before, after = _window(entry)
        h = (h + before + after - span) // stride + 1
        w = (w + before + after - span) // stride + 1
    return h, w


def output_hw(
    spec: Sequence[Mapping[str, Any]], input_hw: tuple[int, int], upto: int | None = None
) -> tuple[int, int]:
    """Spatial size of the map after layer ``upto`` (default: the last) for an input size.

    Raises ValueError when the input is too small to reach that layer.
    """
    h, w = input_hw
    for entry in spec if upto is None else spec[: upto + 1]:
        h, w = _step_hw(entry, h, w)
        if h < 1 or w < 1:
            raise ValueError(f"input {input_hw[0]}x{input_hw[1]} is too small for this network")
    return h, w


def spec_taps(spec: Sequence[Mapping[str, Any]], in_channels: int = 3) -> dict[str, TapInfo]:
    """The named taps of a normalised spec, in network order."""
    geos = trace(spec, in_channels)
    return {
        e["name"]: TapInfo(e["name"], g.channels, g.stride, g.offset, g.receptive_field)
        for e, g in zip(spec, geos, strict=True)
        if e["type"] == "tap"
    }


def count_spec_macs(
    spec: Sequence[Mapping[str, Any]], input_hw: tuple[int, int], in_channels: int = 3
) -> int:
    """Multiply-adds of the convolutions for one input image (ReLU, LRN, pools not counted)."""
    output_hw(spec, input_hw)  # the size check
    total = 0
    channels = in_channels
    h, w = input_hw
    for entry in spec:
        h, w = _step_hw(entry, h, w)
        if entry["type"] == "conv":
            total += h * w * channels * entry["out"] * entry["kernel"] ** 2
            channels = entry["out"]
    return total


def count_spec_parameters(spec: Sequence[Mapping[str, Any]], in_channels: int = 3) -> int:
    total = 0
    channels = in_channels
    for entry in spec:
        if entry["type"] == "conv":
            total += channels * entry["out"] * entry["kernel"] ** 2 + entry["out"]
            channels = entry["out"]
    return total


class ChannelLRN(nn.Module):
    """``torch.nn.LocalResponseNorm``'s result, about 4x faster on a CPU.

    ``y = x * (k + alpha / size * sum of x^2 over the ``size`` nearest channels) ^ -beta``: the
    channel sum is a 1x1 convolution with a banded matrix (one small GEMM) instead of torch's
    padded 3-D average pooling.
    """

    def __init__(self, channels: int, size: int, alpha: float, beta: float, k: float) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        idx = torch.arange(channels)
        near = (idx[:, None] - idx[None, :]).abs() <= size // 2
        if size % 2 == 0:  # torch's window for an even size: size/2 before, size/2 - 1 after
            near &= (idx[None, :] - idx[:, None]) < size // 2
        band = near.to(torch.float32) * (alpha / size)
        # Not persistent: derived from the spec, so it stays out of the state dict.
        self.register_buffer("band", band.view(channels, channels, 1, 1), persistent=False)
        self.register_buffer("bias", torch.full((channels,), float(k)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = F.conv2d(x * x, self.band.to(x.dtype), self.bias.to(x.dtype))
        return x * scale.pow_(-self.beta)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def build_module(entry: Mapping[str, Any], in_channels: int) -> tuple[nn.Module, tuple | None]:
    """The torch module for one normalised layer, and the padding to apply before it.

    Symmetric padding goes into the module (cheaper); asymmetric padding comes back as an
    ``F.pad`` tuple ``(left, right, top, bottom)`` for the caller (max pools pad with -inf).
    """
    kind = entry["type"]
    if kind == "relu":
        return nn.ReLU(), None
    if kind == "lrn":
        return ChannelLRN(
            in_channels, entry["size"], entry["alpha"], entry["beta"], entry["k"]
        ), None
    before, after = entry["pad"]
    inner = before if before == after else 0
    pre = None if before == after else (before, after, before, after)
    if kind == "conv":
        module: nn.Module = nn.Conv2d(
            in_channels,
            entry["out"],
            entry["kernel"],
            stride=entry["stride"],
            padding=inner,
            dilation=entry["dilation"],
        )
    elif kind == "maxpool":
        if inner * 2 > entry["kernel"]:  # torch's limit; route through an explicit pad
            inner, pre = 0, (before, after, before, after)
        module = nn.MaxPool2d(entry["kernel"], entry["stride"], padding=inner)
    elif kind == "avgpool":
        if inner * 2 > entry["kernel"]:
            inner, pre = 0, (before, after, before, after)
        module = nn.AvgPool2d(entry["kernel"], entry["stride"], padding=inner)
    else:
        raise ValueError(f"no module for layer type {kind!r}")
    return module, pre
