"""Feature layers as a CF host lists them: which extractor, at which cell size, on which frames.

ECO and STRCF both describe their features as a tuple of :class:`FeatureLayer` specs; a spec
builds its :class:`~cftrack_cli.features.base.FeatureExtractor` (a hand-crafted one by name,
or any factory, a CNN tap, say) and says whether it applies to colour or grey frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cftrack_cli.features.base import FeatureExtractor
from cftrack_cli.features.handcrafted import FHOG, ColorNames, Grayscale

__all__ = ["HANDCRAFTED", "FeatureLayer"]

HANDCRAFTED: dict[str, Callable[[int], FeatureExtractor]] = {
    "fhog": FHOG,
    "colornames": ColorNames,
    "grayscale": Grayscale,
}


@dataclass(frozen=True)
class FeatureLayer:
    """One feature layer of a CF host."""

    # "fhog" | "colornames" | "grayscale", or a factory(cell_size) -> FeatureExtractor (a CNN
    # layer, say); a factory should be a module-level function so params stay picklable.
    feature: str | Callable[[int], FeatureExtractor]
    cell_size: int  # stride of the layer, in pixels of the resized sample
    # Channels after a host's learned projection (ECO's factorised convolution); None: all of
    # them (a host without a projection, STRCF, ignores it).
    compressed_dim: int | None = None
    frames: str = "any"  # use it on "color" frames, "gray" frames, or "any"
    reg_window_edge: float | None = None  # this layer's regularisation at the target's edge
    # STRCF: the mean square per element of the original's form of this feature, which its
    # penalties are given against (None: the host's feature_energy).
    feature_energy: float | None = None

    def __post_init__(self) -> None:
        if self.frames not in ("any", "color", "gray"):
            raise ValueError(f"frames must be 'any', 'color' or 'gray', not {self.frames!r}")
        if self.cell_size < 1 or (self.compressed_dim is not None and self.compressed_dim < 1):
            raise ValueError("cell_size and compressed_dim must be positive")

    def build(self) -> FeatureExtractor:
        if isinstance(self.feature, str):
            try:
                return HANDCRAFTED[self.feature](self.cell_size)
            except KeyError:
                known = ", ".join(sorted(HANDCRAFTED))
                raise ValueError(f"unknown feature {self.feature!r}; one of {known}") from None
        extractor = self.feature(self.cell_size)
        if extractor.cell_size != self.cell_size:
            raise ValueError(
                f"{extractor!r} has cell size {extractor.cell_size}, not {self.cell_size}"
            )
        return extractor

    def applies_to(self, colour: bool) -> bool:
        return self.frames == "any" or (self.frames == "color") == colour
