"""Trackers by name: the one list every command (track, eval, bench) draws from.

A name may carry a weights file: ``eco-student@path/to/student.pth`` is ``eco-student`` with
``weights=path/to/student.pth``, reported as ``eco-student@student`` (the file's stem).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cftrack_cli.errors import UsageError
from cftrack_cli.trackers.base import Tracker


@dataclass(frozen=True)
class TrackerSpec:
    name: str
    factory: Callable[..., Tracker]
    summary: str

    @property
    def options(self) -> frozenset[str]:
        """Keyword options the factory takes (``weights``, ``teacher_weights`` ...)."""
        params = inspect.signature(self.factory).parameters.values()
        return frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY)


_REGISTRY: dict[str, TrackerSpec] = {}


def register(name: str, summary: str) -> Callable[[Callable[..., Tracker]], Callable[..., Tracker]]:
    """Class or function decorator adding a tracker factory under ``name``.

    The factory's keyword-only parameters are the options a caller may pass.
    """

    def add(factory: Callable[..., Tracker]) -> Callable[..., Tracker]:
        if name in _REGISTRY:
            raise ValueError(f"tracker {name!r} registered twice")
        _REGISTRY[name] = TrackerSpec(name, factory, summary)
        return factory

    return add


def tracker_names() -> list[str]:
    return sorted(_REGISTRY)


def tracker_specs() -> list[TrackerSpec]:
    return [_REGISTRY[n] for n in tracker_names()]


def split_name(name: str) -> tuple[str, str | None]:
    """``"eco-student@w.pth"`` -> ``("eco-student", "w.pth")``; plain names get None."""
    base, sep, path = name.partition("@")
    return base, (path if sep else None)


def display_name(name: str) -> str:
    """The name results and reports use: ``eco-student@<file stem>`` for a weights file."""
    base, path = split_name(name)
    return base if path is None else f"{base}@{Path(path).stem}"


def distinct_display_names(names: list[str]) -> list[str]:
    """The :func:`display_name` of each tracker; a one-line error when two would coincide
    (``-t dcf,dcf``, or two weights files of one stem): their results and rows would mix."""
    shown = [display_name(n) for n in names]
    repeated = sorted({s for s in shown if shown.count(s) > 1})
    if repeated:
        raise UsageError(f"two trackers would share the name {', '.join(repeated)}; give each once")
    return shown


def spec_of(name: str) -> TrackerSpec:
    base, path = split_name(name)
    spec = _REGISTRY.get(base)
    if spec is None:
        known = ", ".join(tracker_names())
        raise UsageError(f"unknown tracker {base!r}; choose one of: {known}")
    if path is not None and "weights" not in spec.options:
        raise UsageError(f"tracker {base!r} takes no weights file ({name!r})")
    return spec


def create_tracker(name: str, **options: Any) -> Tracker:
    """A new tracker by registry name, e.g. ``create_tracker("dcf")``.

    ``name`` may be ``NAME@WEIGHTS``. Options the tracker has no use for (``teacher_weights``
    for ``dcf``, say) are ignored, so one set of options can serve a list of trackers; None
    values mean "the default".
    """
    spec = spec_of(name)
    _, path = split_name(name)
    if path is not None:
        options["weights"] = path
    usable = {k: v for k, v in options.items() if k in spec.options and v is not None}
    tracker = spec.factory(**usable)
    tracker.name = display_name(name)
    return tracker
