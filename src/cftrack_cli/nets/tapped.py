"""Running a layer spec (:mod:`cftrack_cli.nets.layers`) and returning its named feature maps.

:class:`TappedNet` is what the teacher and the students have in common: a declared
``preprocessing`` (set when weights are loaded) and ``forward(x, taps)``, which returns
``{tap name: (N, C, h, w) tensor}`` and stops after the deepest requested tap, so asking for
a shallow layer never pays for the deep ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cftrack_cli.nets.layers import (
    TapInfo,
    build_module,
    count_spec_macs,
    normalise_spec,
    output_hw,
    spec_taps,
)
from cftrack_cli.nets.preprocessing import Preprocessing

__all__ = ["TappedNet"]


class TappedNet(nn.Module):
    """A plain feed-forward CNN from a spec, with named taps.

    Subclasses decide how the layer modules are registered (which sets the state-dict keys)
    by overriding :meth:`_register`.
    """

    def __init__(self, spec: Iterable[Mapping[str, Any]], in_channels: int = 3) -> None:
        super().__init__()
        self.spec = normalise_spec(spec)
        self.in_channels = in_channels
        #: How RGB 0..255 patches become this network's input; set when weights are loaded.
        self.preprocessing: Preprocessing | None = None
        self._taps = spec_taps(self.spec, in_channels)
        if not self._taps:
            raise ValueError("the network spec names no taps")
        # steps: (module, F.pad tuple or None, pad value); taps: name -> steps run before it.
        self._steps: list[tuple[nn.Module, tuple | None, float]] = []
        self._tap_after: dict[str, int] = {}
        channels = in_channels
        previous = None
        for entry in self.spec:
            kind = entry["type"]
            if kind == "tap":
                self._tap_after[entry["name"]] = len(self._steps)
            else:
                module, pre = build_module(entry, channels)
                if kind == "relu" and self._steps and previous != "tap":
                    # In place is safe: the conv output it overwrites is nobody's tap.
                    module = nn.ReLU(inplace=True)
                self._register(len(self._steps), entry, module)
                pad_value = float("-inf") if kind == "maxpool" else 0.0
                self._steps.append((module, pre, pad_value))
                if kind == "conv":
                    channels = entry["out"]
            previous = kind

    def _register(self, index: int, entry: Mapping[str, Any], module: nn.Module) -> None:
        """Make ``module`` a child (so its parameters are in the state dict)."""
        if entry["type"] == "conv":
            self.add_module(entry["name"], module)

    # -- description ------------------------------------------------------------------------
    @property
    def taps(self) -> dict[str, TapInfo]:
        """Every tap, in network order: channels, stride, offset, receptive field."""
        return dict(self._taps)

    def tap_info(self, name: str) -> TapInfo:
        self._check_taps([name])
        return self._taps[name]

    def _check_taps(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in self._taps]
        if unknown:
            raise KeyError(
                f"unknown tap(s) {', '.join(map(repr, unknown))}; this network has "
                f"{', '.join(self._taps)}"
            )

    def tap_step(self, name: str) -> int:
        """How many layer steps run before tap ``name`` is read (see :meth:`run_steps`)."""
        self._check_taps([name])
        return self._tap_after[name]

    def step_modules(self) -> list[nn.Module]:
        """The layer modules, one per step, in the order :meth:`run_steps` runs them."""
        return [module for module, _, _ in self._steps]

    def macs(self, input_hw: tuple[int, int], taps: Iterable[str] | None = None) -> int:
        """Convolution multiply-adds of one forward up to the deepest of ``taps`` (default all)."""
        names = list(self._taps) if taps is None else list(taps)
        self._check_taps(names)
        last = max(self.spec.index({"type": "tap", "name": t}) for t in names)
        return count_spec_macs(self.spec[:last], input_hw, self.in_channels)

    def output_size(self, name: str, input_hw: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of tap ``name`` for an input of ``input_hw``; ValueError if too small."""
        self._check_taps([name])
        return output_hw(self.spec, input_hw, upto=self.spec.index({"type": "tap", "name": name}))

    def extra_repr(self) -> str:
        return "taps: " + ", ".join(
            f"{t.name} ({t.channels} ch, stride {t.stride})" for t in self._taps.values()
        )

    # -- running ----------------------------------------------------------------------------
    def run_steps(self, x: torch.Tensor, begin: int, end: int) -> torch.Tensor:
        """The input of step ``end``, given ``x``, the input of step ``begin`` (online
        adaptation runs a frozen front once and only the trained tail per step)."""
        for module, pre, value in self._steps[begin:end]:
            if pre is not None:
                x = F.pad(x, pre, value=value)
            x = module(x)
        return x

    def forward(
        self, x: torch.Tensor, taps: Iterable[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """``{tap: (N, C, h, w)}`` for the requested taps (default: all), computing no layer
        past the deepest one requested."""
        names = list(self._taps) if taps is None else list(dict.fromkeys(taps))
        if not names:
            return {}
        self._check_taps(names)
        wanted_at: dict[int, list[str]] = {}
        for name in names:
            wanted_at.setdefault(self._tap_after[name], []).append(name)
        out: dict[str, torch.Tensor] = {}
        at = 0
        for step in sorted(wanted_at):
            x = self.run_steps(x, at, step)
            at = step
            for name in wanted_at[step]:
                out[name] = x
        return {name: out[name] for name in names}
