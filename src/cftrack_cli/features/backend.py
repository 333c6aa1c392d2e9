"""The network boundary: a feature backend takes patches and returns aligned maps per tap.

A :class:`FeatureBackend` is everything a tracker knows about a network: the taps it reads
(:class:`Tap`), the preprocessing its input needs, each tap's :class:`TapLayout` (channels,
cell size, residual offset) and one call, :meth:`FeatureBackend.maps`, that turns a batch of
RGB patches ``(N, H, W, 3)`` into ``{tap label: (N, C, H // cell, W // cell) float32}``,
already aligned to the cell convention of :mod:`cftrack_cli.features.base` and pooled.
The torch network (:class:`~cftrack_cli.features.deep.TorchBackend`) is one backend, a copy
adapted to one target (:mod:`cftrack_cli.features.adaptation`) another, and an exported
network run by another runtime would be a third: the trackers see only this class.

:meth:`FeatureBackend.layers` gives one :class:`BackendLayer` per tap, a plain
:class:`~cftrack_cli.features.base.FeatureExtractor`; the layers share the backend, so
extracting every layer from the same patches runs the network once (the last input and its
maps are kept, compared by content, so a re-used buffer holding new pixels is never served
stale features).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.nets.preprocessing import Preprocessing

__all__ = ["BackendLayer", "FeatureBackend", "Tap", "TapLayout", "prebuilt_extractor"]


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


@dataclass(frozen=True)
class TapLayout:
    """What a tap's maps look like to the CF maths."""

    channels: int
    cell_size: int  # input pixels per output cell (stride x pooling)
    offset: float  # pixels by which receptive-field centres sit right of / below cell centres


class FeatureBackend(ABC):
    """Patches in, aligned maps per tap out (see the module notes).

    Subclasses set :attr:`taps` and :attr:`preprocessing` on construction and implement
    :meth:`layout` and :meth:`_compute`.
    """

    #: The taps read, in the order :meth:`layers` returns them.
    taps: tuple[Tap, ...]
    #: How RGB 0..255 patches become the network's input.
    preprocessing: Preprocessing

    def __init__(self) -> None:
        self._cached_input: np.ndarray | None = None
        self._cached_maps: dict[str, np.ndarray] = {}
        #: Network passes run so far (for tests and profiling).
        self.forward_count = 0
        self._layers: list[BackendLayer] | None = None

    @abstractmethod
    def layout(self, tap: Tap) -> TapLayout:
        """Channels, cell size and residual offset of ``tap``."""

    @abstractmethod
    def _compute(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Aligned maps of every tap for ``patches`` (N, H, W, 3), keyed by tap label."""

    def describe(self, input_hw: tuple[int, int]) -> dict[str, object]:
        """Size and cost of one pass on ``input_hw`` patches (what ``bench`` prints)."""
        return {"taps": [t.label for t in self.taps]}

    # -- running ----------------------------------------------------------------------------
    def maps(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Every tap's aligned maps of ``patches``; one pass, cached for the last input.

        The arrays returned are the cache's: read them, or use :meth:`extract_all` for copies.
        """
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
            return self._cached_maps
        maps = self._compute(patches)
        self.forward_count += 1
        self._cached_input = np.array(patches, copy=True)
        self._cached_maps = maps
        return maps

    def extract_all(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's features of ``patches``, keyed by tap label (fresh arrays)."""
        return {label: m.copy() for label, m in self.maps(patches).items()}

    def clear_cache(self) -> None:
        """Forget the last input and its maps (frees their memory)."""
        self._cached_input = None
        self._cached_maps = {}

    # -- as feature extractors ----------------------------------------------------------------
    def layers(self) -> list[BackendLayer]:
        """One extractor per tap, in the order of :attr:`taps` (made once, then shared)."""
        if self._layers is None:
            self._layers = [BackendLayer(self, t) for t in self.taps]
        return list(self._layers)

    def layer(self, label: str) -> BackendLayer:
        """The layer for a tap label (``"conv4_3"``, ``"norm1/avg2"``)."""
        for layer in self.layers():
            if layer.tap.label == label:
                return layer
        raise KeyError(f"no layer {label!r}; have {', '.join(t.label for t in self.taps)}")


class BackendLayer(FeatureExtractor):
    """One tap of a :class:`FeatureBackend` as a feature extractor."""

    def __init__(self, backend: FeatureBackend, tap: Tap) -> None:
        self.backend = backend
        self.tap = tap
        self.layout = backend.layout(tap)

    @property
    def dim(self) -> int:
        return self.layout.channels

    @property
    def cell_size(self) -> int:
        return self.layout.cell_size

    @property
    def offset(self) -> float:
        return self.layout.offset

    @property
    def name(self) -> str:
        return self.tap.label

    def extract(self, patches: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) RGB 0..255 -> (N, dim, H // cell_size, W // cell_size) float32, a
        fresh array every call (callers may scale it in place)."""
        return self.backend.maps(patches)[self.tap.label].copy()

    def __repr__(self) -> str:
        return (
            f"BackendLayer({self.tap.label}, dim={self.dim}, cell_size={self.cell_size}, "
            f"offset={self.offset:g})"
        )


def prebuilt_extractor(extractor: FeatureExtractor, cell_size: int) -> FeatureExtractor:
    """A :class:`~cftrack_cli.trackers.eco.FeatureLayer` factory for an extractor built
    already (a backend's layer): ``functools.partial(prebuilt_extractor, layer)``."""
    return extractor
