"""Speed measurement: trackers side by side on N pinned cores, per stage.

Only ``update`` is timed (decoding happens before, ``init`` is reported apart). Repeats are
interleaved (A B C, A B C, ...) and the median taken, so a noisy shared machine affects every
tracker alike; ratios are therefore meaningful within one run.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import UsageError
from cftrack_cli.threads import set_library_threads


def pin_to_cores(n: int) -> list[int]:
    """Restrict this process to ``n`` of its allowed cores, torch and OpenCV to ``n`` threads
    (BLAS to one, as everywhere: :mod:`cftrack_cli.threads`). Returns the cores used."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if n < 1:
        raise UsageError("--cpu-cores must be at least 1")
    if allowed and n > len(allowed):
        raise UsageError(f"--cpu-cores {n}: only {len(allowed)} cores are available here")
    cores = allowed[:n]
    if cores:
        os.sched_setaffinity(0, cores)
    set_library_threads(n)
    return cores


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


@dataclass
class TrackerTiming:
    """One tracker's figures; every list holds one value per repeat."""

    name: str
    update_seconds: list[float] = field(default_factory=list)  # total over the timed frames
    init_seconds: list[float] = field(default_factory=list)
    stage_ms: list[dict[str, float]] = field(default_factory=list)  # per-frame ms by stage
    frames: int = 0  # timed frames per repeat (init frame excluded)
    peak_rss_mb: float = 0.0  # process resident memory peak while this tracker ran
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / statistics.median(self.update_seconds)

    def median_stages(self) -> dict[str, float]:
        """Median ms per frame of each stage, plus ``other``: update time no stage accounts for."""
        names = sorted({k for run in self.stage_ms for k in run})
        stages = {k: statistics.median(run.get(k, 0.0) for run in self.stage_ms) for k in names}
        stages["other"] = max(0.0, 1000.0 / self.fps - sum(stages.values()))
        return stages

    def as_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps,
            "ms_per_frame": 1000.0 / self.fps,
            "init_ms": 1000.0 * statistics.median(self.init_seconds),
            "stages_ms": self.median_stages(),
            "frames": self.frames,
            "repeats": len(self.update_seconds),
            "fps_per_repeat": [self.frames / s for s in self.update_seconds],
            "peak_rss_mb": self.peak_rss_mb,
            **self.info,
        }


def time_trackers(
    factories: dict[str, Callable[[], Any]],
    frames: Sequence[np.ndarray],
    box: Box,
    repeats: int = 3,
    on_step: Callable[[str, int], None] | None = None,
) -> dict[str, TrackerTiming]:
    """Run every tracker over ``frames`` ``repeats`` times, interleaved; time update per stage."""
    if len(frames) < 2:
        raise UsageError("bench needs at least 2 frames (one to start, one to time)")
    timings = {name: TrackerTiming(name) for name in factories}
    for repeat in range(repeats):
        for name, make in factories.items():
            tracker = make()
            timing = timings[name]
            start = time.perf_counter()
            tracker.init(frames[0], box)
            timing.init_seconds.append(time.perf_counter() - start)
            tracker.timer.reset()
            peak = _rss_mb()
            total = 0.0
            for i, frame in enumerate(frames[1:]):
                start = time.perf_counter()
                tracker.update(frame)
                total += time.perf_counter() - start
                if i % 8 == 0:  # outside the timed span
                    peak = max(peak, _rss_mb())
            n = len(frames) - 1
            timing.frames = n
            timing.update_seconds.append(total)
            per_frame = {k: 1000.0 * v / n for k, v in tracker.timer.seconds.items()}
            timing.stage_ms.append(per_frame)
            timing.peak_rss_mb = max(timing.peak_rss_mb, peak)
            if repeat == 0 and hasattr(tracker, "describe"):
                timing.info.update(tracker.describe())
            if on_step is not None:
                on_step(name, repeat)
    return timings


def time_networks(
    trackers: dict[str, Any], frame: np.ndarray, box: Box, repeats: int = 10
) -> dict[str, dict[str, Any]]:
    """Forward time of each deep tracker's network alone, on its own sample size.

    Each tracker is initialised on ``frame`` (which fixes its sample size), then its network
    runs ``repeats`` times on that sample (caches cleared, so every pass computes); median.
    Trackers without a network are skipped.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, tracker in trackers.items():
        cnn = getattr(tracker, "network", None)
        if cnn is None:
            continue
        tracker.init(frame, box)
        info = tracker.describe()
        px = int(info["sample_px"])
        patch = cv2.resize(frame, (px, px), interpolation=cv2.INTER_AREA)[None]  # real content
        seconds = []
        for _ in range(repeats):
            cnn.clear_cache()
            start = time.perf_counter()
            cnn.extract_all(patch)
            seconds.append(time.perf_counter() - start)
        out[name] = {
            "ms": 1000.0 * statistics.median(seconds),
            "input_px": px,
            **info["network"],
        }
    return out
