"""Student networks: thin CNNs whose taps sit at the same strides as the teacher taps they mimic.

:class:`StudentNet` runs any layer spec (:mod:`cftrack_cli.nets.layers`); its parameters are
keyed by conv name (``conv1.weight``), so the paper authors' CF-VGGM converts into one
(:mod:`cftrack_cli.nets.cf_vggm`).

The default student (:func:`vgg16_student_spec`) follows VGG16's stride plan with the channels
VGG16 has at each stride times ``width``, but spends far fewer multiply-adds: VGG16's cost is
dominated by full- and half-resolution 3x3 convs (conv1_2, conv2_x are 3.7 of its 11 GMACs at
200x200), so the student goes to stride 2 at once, like VGG-M, and uses one conv per stride
below 8. At ``width=0.125`` and a 200x200 patch it costs 54 M multiply-adds to its stride-8
tap and 59 M to its stride-16 tap, ~200x fewer than VGG16 to conv4_3 (11.1 G) or conv5_3
(12.1 G).

Alignment: every stride change is a 2x2 max-pool or an even kernel (4x4, stride 2, pad 1),
the only ways to halve a map while keeping each cell centred on its pixel block; so every
tap has offset 0 and ``H // stride`` cells, exactly as VGG16's, and student and teacher maps
line up cell for cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import nn

from cftrack_cli.nets.layers import count_spec_macs, normalise_spec
from cftrack_cli.nets.tapped import TappedNet
from cftrack_cli.nets.teacher import VGG16_TAP_STRIDES

__all__ = [
    "DEFAULT_STUDENT_TAPS",
    "StudentNet",
    "count_macs",
    "count_parameters",
    "vgg16_student_spec",
]

#: The VGG16 taps a default student mimics, one per stride from 2 to 16: deep ECO's pair
#: (conv3_3, conv5_3; see features.deep.VGG16_ECO_TAPS) and the layers between, for a
#: multi-layer fidelity loss and for trying other pairs. Taps cost nothing; depth does.
DEFAULT_STUDENT_TAPS = ("conv2_2", "conv3_3", "conv4_3", "conv5_3")

# VGG16's channels at each stride (the convs that run at that stride).
_VGG16_CHANNELS = {1: 64, 2: 128, 4: 256, 8: 512, 16: 512}


class StudentNet(TappedNet):
    """A student CNN from a layer spec; ``forward(x, taps) -> {tap: (N, C, h, w)}``."""


def _channels(width: float, stride: int) -> int:
    return max(1, round(width * _VGG16_CHANNELS[stride]))


def vgg16_student_spec(
    width: float = 0.125, taps: Sequence[str] = DEFAULT_STUDENT_TAPS, deep_convs: int = 1
) -> list[dict[str, Any]]:
    """The default VGG16-aligned student, built up to the deepest of ``taps``.

    ``taps`` are VGG16 tap names (``conv2_2``, ``pool2``, ``conv4_3`` ...); each becomes a
    student tap of the same name at the same stride (stride 1 taps are not offered: the
    student's first layer already has stride 2). ``width`` scales the channels: at each
    stride the student has ``round(width * VGG16's channels there)``. ``deep_convs`` is the
    number of 3x3 convs at stride 16 (VGG16 has 3): each widens the stride-16 tap's view by
    32 px at little cost, since that map is 1/256 of the input.

    Layers (``C(s)`` the channels at stride ``s``):

    ====== ======================================================== =======
    stride layers                                                   RF px
    ====== ======================================================== =======
    2      conv1 4x4/2 pad 1 3->C(2), ReLU                           4
    4      maxpool 2x2, conv2 3x3 C(2)->C(4), ReLU                   14
    8      maxpool 2x2, conv3 3x3 C(4)->C(8), ReLU, conv4 3x3, ReLU  50
    16     maxpool 2x2, conv5 3x3 C(8)->C(16), ReLU                  90
           (``deep_convs`` > 1: then conv5_extra1 ... 3x3 C(16)->C(16), +32 px each)
    32     maxpool 2x2                                               106
    ====== ======================================================== =======
    """
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    if deep_convs < 1:
        raise ValueError(f"deep_convs must be at least 1, got {deep_convs}")
    names = list(dict.fromkeys(taps))
    if not names:
        raise ValueError("a student needs at least one tap")
    unknown = [t for t in names if t not in VGG16_TAP_STRIDES]
    if unknown:
        raise ValueError(f"not VGG16 taps: {', '.join(unknown)}")
    shallow = [t for t in names if VGG16_TAP_STRIDES[t] < 2]
    if shallow:
        raise ValueError(f"the student has no stride-1 layer for {', '.join(shallow)}")
    by_stride: dict[int, list[str]] = {}
    for t in names:
        by_stride.setdefault(VGG16_TAP_STRIDES[t], []).append(t)
    deepest = max(by_stride)

    def conv(name: str, out: int, kernel: int, **kw: Any) -> list[dict[str, Any]]:
        return [
            {"type": "conv", "name": name, "out": out, "kernel": kernel, **kw},
            {"type": "relu"},
        ]

    pool = {"type": "maxpool", "kernel": 2, "stride": 2}
    stride16 = [pool, *conv("conv5", _channels(width, 16), 3, pad=1)]
    for i in range(1, deep_convs):
        stride16 += conv(f"conv5_extra{i}", _channels(width, 16), 3, pad=1)
    stages: dict[int, list[dict[str, Any]]] = {
        2: conv("conv1", _channels(width, 2), 4, stride=2, pad=1),
        4: [pool, *conv("conv2", _channels(width, 4), 3, pad=1)],
        8: [
            pool,
            *conv("conv3", _channels(width, 8), 3, pad=1),
            *conv("conv4", _channels(width, 8), 3, pad=1),
        ],
        16: stride16,
        32: [pool],
    }
    spec: list[dict[str, Any]] = []
    for stride, layers in stages.items():
        if stride > deepest:
            break
        spec.extend(dict(layer) for layer in layers)
        spec.extend({"type": "tap", "name": t} for t in by_stride.get(stride, ()))
    return normalise_spec(spec)


def count_parameters(net: nn.Module) -> int:
    """Number of learnable values."""
    return sum(p.numel() for p in net.parameters())


def count_macs(
    net_or_spec: TappedNet | Sequence[Mapping[str, Any]],
    input_hw: tuple[int, int],
    taps: Iterable[str] | None = None,
) -> int:
    """Convolution multiply-adds of one forward pass on an ``input_hw`` image.

    From a network, up to the deepest of ``taps`` (default: all its taps); from a spec, the
    whole spec. Computed analytically; only convolutions count (ReLU, LRN and pooling have
    no weights to multiply).
    """
    if isinstance(net_or_spec, TappedNet):
        return net_or_spec.macs(input_hw, taps)
    if taps is not None:
        raise ValueError("taps only apply to a network; slice the spec instead")
    return count_spec_macs(normalise_spec(net_or_spec), input_hw)
