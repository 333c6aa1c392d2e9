"""CNN feature maps (teacher or student) as :class:`FeatureExtractor` layers.

:class:`CNNFeatures` wraps a network with named taps (:class:`~cftrack_cli.nets.tapped.
TappedNet`: the VGG16 teacher, a student, CF-VGGM), its input preprocessing and the taps a
tracker uses. :meth:`CNNFeatures.layers` gives one extractor per tap (``dim`` = channels,
``cell_size`` = stride x pooling); they share the network: extracting every layer from the
same patches runs the network once (the last input and its raw outputs are cached, compared
by content, so a re-used buffer holding new pixels is never served stale features).

Spatial convention: the CF maths assume feature cell ``(i, j)`` covers the pixels
``[i*c, (i+1)*c) x [j*c, (j+1)*c)`` of the patch (``c`` the cell size), and every layer returns
exactly ``(N, dim, H // c, W // c)``. A network whose cells are centred elsewhere (CF-VGGM's
unpadded conv1 shifts its centres by +2.5 px at stride 2, +9.5 px at stride 16) is shifted by
the nearest whole number of cells, missing border cells repeating their neighbour and extra
ones cropped; what is left (under half a cell) is each layer's :attr:`CNNLayer.offset`,
pixels by which the receptive-field centres sit right/below the cell centres. VGG16 and the
default students are exactly aligned (offset 0, nothing cropped or padded).

Optional per-tap average pooling (``Tap("norm1", pool=2)``) coarsens a tap after alignment,
as ECO pooled VGG-M's norm1 from stride 2 to 4. Runs under ``torch.inference_mode``; thread
counts are the caller's to set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.nets.layers import TapInfo
from cftrack_cli.nets.preprocessing import Preprocessing
from cftrack_cli.nets.tapped import TappedNet

__all__ = ["VGG16_ECO_TAPS", "CNNFeatures", "CNNLayer", "Tap"]


@dataclass(frozen=True)
class Tap:
    """A network tap used as a feature layer, optionally average-pooled by ``pool`` x ``pool``."""

    name: str
    pool: int = 1

    def __post_init__(self) -> None:
        if self.pool < 1:
            raise ValueError(f"pool must be >= 1, got {self.pool}")

    @property
    def label(self) -> str:
        return self.name if self.pool == 1 else f"{self.name}/avg{self.pool}"


#: VGG16 taps for deep ECO, as ECO paired VGG-M's norm1 and relu5: a shallow layer at cell 4
#: for precise localisation and the deepest conv layer (cell 16) for robustness. Chosen by a
#: one-step DCF localisation proxy on the development sequences, where conv3_3 + conv5_3 had
#: the lowest centre error of the pairs tried (0.066 of the target size vs 0.083 for
#: conv3_3 + conv4_3 and 0.078 for pool1/avg2 + conv4_3); to be re-checked with ECO itself.
VGG16_ECO_TAPS = (Tap("conv3_3"), Tap("conv5_3"))


def _aligned_index(n_out: int, n_net: int, shift: int) -> torch.Tensor | slice:
    """Rows of the network map that become output rows 0..n_out-1 (edge-replicated)."""
    if shift == 0 and n_net >= n_out:
        return slice(0, n_out)
    return torch.clamp(torch.arange(n_out) - shift, 0, n_net - 1)


class CNNFeatures:
    """A network + preprocessing + taps; :meth:`layers` are the per-tap extractors.

    ``preprocessing`` defaults to ``net.preprocessing`` (set when weights are loaded).
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
        self.net = net  # our layer types act the same in train and eval mode
        prep = preprocessing or getattr(net, "preprocessing", None)
        if prep is None:
            raise ValueError("no preprocessing given and the network has none set")
        self.preprocessing: Preprocessing = prep
        self.taps = tuple(t if isinstance(t, Tap) else Tap(t) for t in taps)
        if not self.taps:
            raise ValueError("CNNFeatures needs at least one tap")
        if len({t.label for t in self.taps}) != len(self.taps):
            raise ValueError("the same tap is listed twice")
        self._tap_names = list(dict.fromkeys(t.name for t in self.taps))
        self.info: dict[str, TapInfo] = {n: net.tap_info(n) for n in self._tap_names}
        if max_batch is not None and max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch = max_batch
        self._layers = [CNNLayer(self, t) for t in self.taps]
        self._cached_input: np.ndarray | None = None
        self._cached_output: dict[str, torch.Tensor] = {}
        #: Network passes run so far (for tests and profiling).
        self.forward_count = 0

    def layers(self) -> list[CNNLayer]:
        """One extractor per tap, in the order given."""
        return list(self._layers)

    def layer(self, label: str) -> CNNLayer:
        """The layer for a tap label (``"conv4_3"``, ``"norm1/avg2"``)."""
        for layer in self._layers:
            if layer.tap.label == label:
                return layer
        raise KeyError(f"no layer {label!r}; have {', '.join(t.label for t in self.taps)}")

    def clear_cache(self) -> None:
        """Forget the last input and its network outputs (frees their memory)."""
        self._cached_input = None
        self._cached_output = {}

    def extract_all(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's features of ``patches``, keyed by tap label (one network pass)."""
        return {layer.tap.label: layer.extract(patches) for layer in self._layers}

    # -- the shared network pass --------------------------------------------------------------
    def raw(self, patches: np.ndarray) -> dict[str, torch.Tensor]:
        """The network's tap outputs for ``patches`` (cached for the last input)."""
        patches = np.asarray(patches)
        if patches.ndim != 4 or patches.shape[-1] != 3:
            raise ValueError(f"patches must be (N, H, W, 3) RGB, got {patches.shape}")
        cached = self._cached_input
        if (
            cached is not None
            and cached.shape == patches.shape
            and cached.dtype == patches.dtype
            and np.array_equal(cached, patches)
        ):
            return self._cached_output
        h, w = patches.shape[1:3]
        for name in self._tap_names:
            try:
                self.net.output_size(name, (h, w))
            except ValueError:
                raise ValueError(f"a {h}x{w} patch is too small for the tap {name!r}") from None
        outputs = self._run(patches)
        self._cached_input = np.array(patches, copy=True)
        self._cached_output = outputs
        return outputs

    def _run(self, patches: np.ndarray) -> dict[str, torch.Tensor]:
        n = patches.shape[0]
        step = n if self.max_batch is None else self.max_batch
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in self._tap_names}
        with torch.inference_mode():
            for start in range(0, max(n, 1), max(step, 1)):
                x = self.preprocessing(patches[start : start + step])
                out = self.net(x, self._tap_names)
                for name in self._tap_names:
                    parts[name].append(out[name])
        self.forward_count += 1
        return {
            name: torch.cat(chunks) if len(chunks) > 1 else chunks[0]
            for name, chunks in parts.items()
        }


class CNNLayer(FeatureExtractor):
    """One tap of a :class:`CNNFeatures` as a feature extractor (see the module notes)."""

    def __init__(self, owner: CNNFeatures, tap: Tap) -> None:
        self.owner = owner
        self.tap = tap
        info = owner.info[tap.name]
        self.info = info
        stride = info.stride
        # Whole cells to shift by so the centres land nearest the cell centres, and the rest.
        self._shift = math.floor(info.offset / stride + 0.5)
        self._offset = info.offset - self._shift * stride

    @property
    def dim(self) -> int:
        return self.info.channels

    @property
    def cell_size(self) -> int:
        return self.info.stride * self.tap.pool

    @property
    def offset(self) -> float:
        """Pixels by which receptive-field centres sit right of / below the cell centres."""
        return self._offset

    @property
    def name(self) -> str:
        return self.tap.label

    def extract(self, patches: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) RGB 0..255 -> (N, dim, H // cell_size, W // cell_size) float32."""
        raw = self.owner.raw(patches)[self.tap.name]
        h, w = np.asarray(patches).shape[1:3]
        stride = self.info.stride
        rows = _aligned_index(h // stride, raw.shape[2], self._shift)
        cols = _aligned_index(w // stride, raw.shape[3], self._shift)
        with torch.inference_mode():
            y = raw[:, :, rows] if isinstance(rows, slice) else raw.index_select(2, rows)
            y = y[:, :, :, cols] if isinstance(cols, slice) else y.index_select(3, cols)
            if self.tap.pool > 1:
                y = F.avg_pool2d(y, self.tap.pool)
            y = y.to(torch.float32).contiguous()
            if y.untyped_storage().data_ptr() == raw.untyped_storage().data_ptr():
                y = y.clone()  # a fresh array every call: callers may scale it in place
        return y.numpy()

    def __repr__(self) -> str:
        return (
            f"CNNLayer({self.tap.label}, dim={self.dim}, cell_size={self.cell_size}, "
            f"offset={self.offset:g})"
        )
