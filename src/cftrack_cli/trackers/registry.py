"""Trackers by name: the one list every command (track, eval, bench) draws from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cftrack_cli.errors import UsageError
from cftrack_cli.trackers.base import Tracker


@dataclass(frozen=True)
class TrackerSpec:
    name: str
    factory: Callable[..., Tracker]
    summary: str


_REGISTRY: dict[str, TrackerSpec] = {}


def register(name: str, summary: str) -> Callable[[Callable[..., Tracker]], Callable[..., Tracker]]:
    """Class or function decorator adding a tracker factory under ``name``."""

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


def create_tracker(name: str, **options: Any) -> Tracker:
    """A new tracker by registry name, e.g. ``create_tracker("dcf")``."""
    spec = _REGISTRY.get(name)
    if spec is None:
        known = ", ".join(tracker_names())
        raise UsageError(f"unknown tracker {name!r}; choose one of: {known}")
    tracker = spec.factory(**options)
    tracker.name = name
    return tracker
