"""The torch network (teacher or student) as a feature backend (:mod:`.backend`).

:class:`TorchBackend` wraps a network with named taps (:class:`~cftrack_cli.nets.tapped.
TappedNet`: the VGG16 teacher, a student, CF-VGGM), its input preprocessing and the taps a
tracker uses; its :meth:`~FeatureBackend.layers` are one extractor per tap (``dim`` =
channels, ``cell_size`` = stride x pooling).

Spatial convention: the CF maths assume feature cell ``(i, j)`` covers the pixels
``[i*c, (i+1)*c) x [j*c, (j+1)*c)`` of the patch (``c`` the cell size), and every layer returns
exactly ``(N, dim, H // c, W // c)``. A network whose cells are centred elsewhere (CF-VGGM's
unpadded conv1 shifts its centres by +2.5 px at stride 2, +9.5 px at stride 16) is shifted by
the nearest whole number of cells, missing border cells repeating their neighbour and extra
ones cropped; what is left (under half a cell) is each tap's :attr:`TapLayout.offset`,
pixels by which the receptive-field centres sit right/below the cell centres. VGG16 and the
default students are exactly aligned (offset 0, nothing cropped or padded).

Optional per-tap average pooling (``Tap("norm1", pool=2)``) coarsens a tap after alignment,
as ECO pooled VGG-M's norm1 from stride 2 to 4. Runs under ``torch.inference_mode``; thread
counts are the caller's to set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cftrack_cli.features.backend import FeatureBackend, Tap, TapLayout
from cftrack_cli.nets.layers import TapInfo
from cftrack_cli.nets.preprocessing import Preprocessing
from cftrack_cli.nets.tapped import TappedNet

__all__ = ["VGG16_ECO_TAPS", "Tap", "TorchBackend"]


#: VGG16 taps for the deep CF presets, as ECO paired VGG-M's norm1 and relu5: a shallow layer
#: at cell 4 for precise localisation and the deepest conv layer (cell 16) for robustness.
#: Chosen by a one-step DCF localisation proxy on the development sequences, where conv3_3 +
#: conv5_3 had the lowest centre error of the pairs tried (0.066 of the target size vs 0.083
#: for conv3_3 + conv4_3 and 0.078 for pool1/avg2 + conv4_3). DeepSTRCF reads both; deep ECO,
#: measured on the dev benchmark, reads conv5_3 alone (trackers.eco_deep.DEEPEST_ONLY).
VGG16_ECO_TAPS = (Tap("conv3_3"), Tap("conv5_3"))


def _aligned_index(n_out: int, n_net: int, shift: int) -> torch.Tensor | slice:
    """Rows of the network map that become output rows 0..n_out-1 (edge-replicated)."""
    if shift == 0 and n_net >= n_out:
        return slice(0, n_out)
    return torch.clamp(torch.arange(n_out) - shift, 0, n_net - 1)


class TorchBackend(FeatureBackend):
    """A torch network + preprocessing + taps.

    ``preprocessing`` defaults to the network's own (set when weights are loaded).
    ``max_batch`` caps how many patches go through the network at once (memory; None: all).
    """

    def __init__(
        self,
        net: TappedNet,
        taps: Sequence[str | Tap],
        preprocessing: Preprocessing | None = None,
        *,
        max_batch: int | None = None,
    ) -> None:
        super().__init__()
        self.net = net  # our layer types act the same in train and eval mode
        prep = preprocessing or net.preprocessing
        if prep is None:
            raise ValueError("no preprocessing given and the network has none set")
        self.preprocessing = prep
        self.taps = tuple(t if isinstance(t, Tap) else Tap(t) for t in taps)
        if not self.taps:
            raise ValueError("a backend needs at least one tap")
        if len({t.label for t in self.taps}) != len(self.taps):
            raise ValueError("the same tap is listed twice")
        self._tap_names = list(dict.fromkeys(t.name for t in self.taps))
        self.info: dict[str, TapInfo] = {n: net.tap_info(n) for n in self._tap_names}
        if max_batch is not None and max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch = max_batch

    def with_network(self, net: TappedNet) -> TorchBackend:
        """The same taps and preprocessing on another network of the same layout (an adapted
        copy, say); this backend is left as it is."""
        return TorchBackend(net, self.taps, self.preprocessing, max_batch=self.max_batch)

    def layout(self, tap: Tap) -> TapLayout:
        info = self.info[tap.name]
        return TapLayout(
            info.channels, info.stride * tap.pool, info.offset - _shift(info) * info.stride
        )

    def describe(self, input_hw: tuple[int, int]) -> dict[str, object]:
        return {
            "parameters": sum(int(t.numel()) for t in self.net.parameters()),
            "macs": self.net.macs(input_hw, [t.name for t in self.taps]),
            "taps": [t.label for t in self.taps],
        }

    # -- the network pass ---------------------------------------------------------------------
    def raw(self, patches: np.ndarray) -> dict[str, torch.Tensor]:
        """The network's tap outputs for ``patches``, before alignment and pooling."""
        h, w = patches.shape[1:3]
        for name in self._tap_names:
            try:
                self.net.output_size(name, (h, w))
            except ValueError:
                raise ValueError(f"a {h}x{w} patch is too small for the tap {name!r}") from None
        n = patches.shape[0]
        step = n if self.max_batch is None else self.max_batch
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in self._tap_names}
        with torch.inference_mode():
            for start in range(0, max(n, 1), max(step, 1)):
                x = self.preprocessing(patches[start : start + step])
                out = self.net(x, self._tap_names)
                for name in self._tap_names:
                    parts[name].append(out[name])
        return {
            name: torch.cat(chunks) if len(chunks) > 1 else chunks[0]
            for name, chunks in parts.items()
        }

    def _compute(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        raw = self.raw(patches)
        h, w = patches.shape[1:3]
        return {tap.label: self._aligned(raw[tap.name], tap, h, w) for tap in self.taps}

    def _aligned(self, raw: torch.Tensor, tap: Tap, h: int, w: int) -> np.ndarray:
        """One tap's map shifted to the cell convention, pooled, as float32."""
        info = self.info[tap.name]
        stride = info.stride
        shift = _shift(info)
        rows = _aligned_index(h // stride, raw.shape[2], shift)
        cols = _aligned_index(w // stride, raw.shape[3], shift)
        with torch.inference_mode():
            y = raw[:, :, rows] if isinstance(rows, slice) else raw.index_select(2, rows)
            y = y[:, :, :, cols] if isinstance(cols, slice) else y.index_select(3, cols)
            if tap.pool > 1:
                y = F.avg_pool2d(y, tap.pool)
            y = y.to(torch.float32).contiguous()
        return y.numpy()


def _shift(info: TapInfo) -> int:
    """Whole cells to shift a tap by so its centres land nearest the cell centres."""
    return math.floor(info.offset / info.stride + 0.5)
