"""Background-aware online adaptation: a copy of the student fine-tuned on one target.

The paper's "background-aware online learning scheme" adapts the student during tracking,
using the background around the target to sharpen its features. Here, on the first frame:

- template: the tracker's sample around the target (the crop ECO itself takes);
- searches: the same frame cut at known shifts and slight rescalings, so the target lands at a
  known offset and the rest of each window is the real background around it;
- loss: the distillation's DCF tracking loss (:class:`~cftrack_cli.distill.losses.
  TrackingLoss`: a closed-form filter learned on the template must peak where the target is in
  each search, and nowhere on the background) on the tracker's taps that the trained layers
  feed, plus a term keeping the adapted features close to the original ones, so a few steps on
  one image cannot collapse them;
- a few Adam steps on the last conv layer(s) only; everything before them is run once.

:func:`adapt_student` works on a copy: the network it is given is never modified;
:func:`adapt_backend` wraps that copy as the target's own
:class:`~cftrack_cli.features.deep.TorchBackend`, so several targets over one loaded network
each get theirs. Seeded and deterministic; gradients are enabled only inside it. The
distillation may use this module; it belongs to the inference side.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cftrack_cli.cf.tracking_loss import TrackingLoss
from cftrack_cli.features.backend import Tap
from cftrack_cli.features.deep import TorchBackend
from cftrack_cli.features.patches import crop_resize
from cftrack_cli.nets.preprocessing import Preprocessing
from cftrack_cli.nets.tapped import TappedNet

__all__ = [
    "AdaptReport",
    "OnlineParams",
    "SampleGeometry",
    "adapt_backend",
    "adapt_student",
    "first_frame_pairs",
]


@dataclass(frozen=True)
class OnlineParams:
    """How a student is adapted to one target.

    Defaults chosen on the development sequences (7 sequences, 8 perturbed starts each, shipped
    student): on held-out pairs from later frames (filter from the first frame's template) the
    adapted conv5_3 localises better (DCF loss 0.520 -> 0.500, within a quarter target 0.62 ->
    0.63-0.65), stronger settings more so; ECO's success AUC did not move beyond the noise for
    any setting tried (10-50 steps, lr 5e-4 to 1e-2, conv5, conv4+5, conv2+conv5, keep 0-1),
    so these are the middle, cheap ones (~0.1-0.15 s per init on one core).
    """

    steps: int = 15  # Adam steps (0: no adaptation)
    lr: float = 1e-3  # Adam learning rate
    layers: int = 1  # how many of the last conv layers (before the deepest tap) are trained
    train: tuple[str, ...] | None = None  # or these conv layers, by name (overrides layers)
    n_search: int = 8  # shifted search crops per template
    max_shift: float = 0.15  # largest target shift, fraction of the sample side
    max_log_scale: float = 0.1  # searches rescaled by exp(U(-m, m))
    label_sigma: float = 0.1  # Gaussian label std, fraction of the target side (as distill)
    dcf_lambda: float = 0.01  # the DCF's regulariser (as distill)
    # Weight of the relative MSE to the original features (MSE / their mean square). Without
    # it 50 steps at lr 1e-2 change conv5_3 by ~120 % and lose on rotating targets.
    keep_weight: float = 0.5
    seed: int = 0  # the search crops' shifts and scales

    def __post_init__(self) -> None:
        if self.steps < 0 or self.layers < 1 or self.n_search < 1:
            raise ValueError("steps must be >= 0, layers and n_search >= 1")
        if not (self.lr > 0 and self.dcf_lambda > 0 and self.label_sigma > 0):
            raise ValueError("lr, dcf_lambda and label_sigma must be > 0")
        if self.keep_weight < 0 or not 0 <= self.max_shift < 0.5 or self.max_log_scale < 0:
            raise ValueError("bad keep_weight, max_shift or max_log_scale")


@dataclass(frozen=True)
class SampleGeometry:
    """The tracker's sample: a square ``window`` (frame px) at ``centre`` resized to
    ``sample_px``; the target is ``target_px`` = (w, h) in resized-sample pixels."""

    centre: tuple[float, float]  # (x, y), frame pixels
    window: float  # sample side in frame pixels
    sample_px: int  # side of the resized sample the network sees
    target_px: tuple[float, float]  # (w, h) in sample pixels


@dataclass(frozen=True)
class AdaptReport:
    """What an adaptation did (for logs, tests and measurements)."""

    trained: tuple[str, ...]  # conv modules fine-tuned
    loss_taps: tuple[str, ...]  # taps the loss was computed on
    tracking_before: float  # DCF tracking loss on the pairs, original network
    tracking_after: float  # ... adapted network
    keep_after: float  # relative feature change (MSE / mean square of the original)
    seconds: float


def first_frame_pairs(
    frame: np.ndarray, geometry: SampleGeometry, params: OnlineParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Template (1, S, S, 3), searches (n, S, S, 3) and the target's shift in each search,
    (n, 2) = (dy, dx) in search pixels relative to its centre. Same seed, same crops."""
    rng = np.random.default_rng(params.seed)
    s = geometry.sample_px
    cx, cy = geometry.centre
    side = geometry.window
    template = crop_resize(frame, (cx, cy), (side, side), (s, s))
    n = params.n_search
    # Evenly spread directions (a random phase), radii in [0.3, 1] x max_shift: every search
    # moves the target, in all directions, so the filter sees background on every side.
    angles = rng.uniform(0, 2 * math.pi) + 2 * math.pi * np.arange(n) / n
    radii = rng.uniform(0.3, 1.0, size=n) * params.max_shift * side
    log_scales = rng.uniform(-params.max_log_scale, params.max_log_scale, size=n)
    searches = np.empty((n, s, s, 3), np.uint8)
    shifts = np.empty((n, 2), np.float32)
    for k in range(n):
        ox, oy = radii[k] * math.cos(angles[k]), radii[k] * math.sin(angles[k])
        side2 = side * math.exp(log_scales[k])
        searches[k] = crop_resize(frame, (cx + ox, cy + oy), (side2, side2), (s, s))
        # The target's centre, seen from the search crop's centre, in search pixels.
        shifts[k] = (-oy * s / side2, -ox * s / side2)
    return template[None], searches, shifts


def adapt_student(
    net: TappedNet,
    taps: Sequence[str | Tap],
    frame: np.ndarray,
    geometry: SampleGeometry,
    params: OnlineParams | None = None,
    preprocessing: Preprocessing | None = None,
) -> tuple[TappedNet, AdaptReport]:
    """A copy of ``net`` whose last ``params.layers`` conv layers are fine-tuned to the target.

    ``taps`` are the tracker's taps; the loss uses those downstream of the trained layers.
    ``net`` itself is left untouched. The copy is in eval mode with gradients off.
    """
    p = params or OnlineParams()
    start = time.perf_counter()
    prep = preprocessing or net.preprocessing
    if prep is None:
        raise ValueError("no preprocessing given and the network has none set")
    tap_list = [t if isinstance(t, Tap) else Tap(t) for t in taps]
    # Gradients here only, whatever the caller's mode (TorchBackend runs in inference mode).
    with torch.inference_mode(False), torch.enable_grad():
        # The preprocessing (with its read-only mean image) is shared, not copied.
        memo = {id(net.preprocessing): net.preprocessing} if net.preprocessing is not None else {}
        student = copy.deepcopy(net, memo)
        student.eval().requires_grad_(False)
        trained, begin = _trainable(student, tap_list, p.layers, p.train)
        if p.steps == 0:
            report = AdaptReport(trained, (), math.nan, math.nan, 0.0, time.perf_counter() - start)
            return student, report
        loss_taps = [t for t in tap_list if student.tap_step(t.name) > begin]
        before, after, keep = _fine_tune(
            student, trained, begin, loss_taps, prep, frame, geometry, p
        )
    report = AdaptReport(
        trained=trained,
        loss_taps=tuple(t.label for t in loss_taps),
        tracking_before=before,
        tracking_after=after,
        keep_after=keep,
        seconds=time.perf_counter() - start,
    )
    return student, report


def adapt_backend(
    backend: TorchBackend,
    frame: np.ndarray,
    geometry: SampleGeometry,
    params: OnlineParams | None = None,
) -> tuple[TorchBackend, AdaptReport]:
    """A backend of its own for one target: ``backend``'s taps and preprocessing on a copy of
    its network adapted to the target (:func:`adapt_student`); ``backend`` is left as it is."""
    net, report = adapt_student(
        backend.net, backend.taps, frame, geometry, params, backend.preprocessing
    )
    return backend.with_network(net), report


def _fine_tune(
    student: TappedNet,
    trained: tuple[str, ...],
    begin: int,
    loss_taps: list[Tap],
    prep: Preprocessing,
    frame: np.ndarray,
    geometry: SampleGeometry,
    p: OnlineParams,
) -> tuple[float, float, float]:
    """Train ``trained`` in place; (tracking loss before, after, relative feature change)."""
    template, searches, shifts = first_frame_pairs(frame, geometry, p)
    with torch.no_grad():
        x = prep(np.concatenate([template, searches]))
        prefix = student.run_steps(x, 0, begin)  # the frozen front, run once
        original = dict(_tap_maps(student, prefix, begin, loss_taps))
    losses = {
        t.label: _tracking_loss(original[t.label], t, student, geometry, p) for t in loss_taps
    }
    shift = torch.from_numpy(shifts)
    scale = {k: float(v.pow(2).mean()) + 1e-12 for k, v in original.items()}

    def objective() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        maps = dict(_tap_maps(student, prefix, begin, loss_taps))
        track = torch.stack(
            [losses[k](maps[k][:1], maps[k][1:], shift) for k in losses]  # one filter, n searches
        ).mean()
        keep = torch.stack([F.mse_loss(maps[k], original[k]) / scale[k] for k in maps]).mean()
        return track + p.keep_weight * keep, track, keep

    weights = [q for name in trained for q in student.get_submodule(name).parameters()]
    for q in weights:
        q.requires_grad_(True)
    optimiser = torch.optim.Adam(weights, lr=p.lr)
    with torch.no_grad():
        _, before, _ = objective()
    for _ in range(p.steps):
        optimiser.zero_grad(set_to_none=True)
        total, _, _ = objective()
        total.backward()
        optimiser.step()
    optimiser.zero_grad(set_to_none=True)
    student.requires_grad_(False)
    with torch.no_grad():
        _, after, keep = objective()
    return float(before), float(after), float(keep)


# -- running part of a TappedNet ---------------------------------------------------------------


def _trainable(
    net: TappedNet, taps: Sequence[Tap], layers: int, names: Sequence[str] | None
) -> tuple[tuple[str, ...], int]:
    """The conv layers to train (``names``, else the last ``layers`` before the deepest tap)
    and the step index of the first of them."""
    deepest = max(net.tap_step(t.name) for t in taps)
    convs = [
        (i, name)
        for i, module in enumerate(net.step_modules()[:deepest])
        for name, child in net.named_children()
        if child is module and isinstance(module, nn.Conv2d)
    ]
    if names is not None:
        unknown = sorted(set(names) - {name for _, name in convs})
        if unknown or not names:
            raise ValueError(
                f"not conv layers before the tracker's taps: {', '.join(unknown) or '(none)'}"
            )
        chosen = [(i, name) for i, name in convs if name in names]
    elif convs:
        chosen = convs[-layers:]
    else:
        raise ValueError("no conv layer before the tracker's taps to adapt")
    return tuple(name for _, name in chosen), chosen[0][0]


def _tap_maps(
    net: TappedNet, x: torch.Tensor, begin: int, taps: Sequence[Tap]
) -> list[tuple[str, torch.Tensor]]:
    """(label, map) of ``taps`` (all at or after step ``begin``), from ``x`` at ``begin``."""
    out = []
    at = begin
    for tap in sorted(taps, key=lambda t: net.tap_step(t.name)):
        stop = net.tap_step(tap.name)
        x = net.run_steps(x, at, stop)
        at = stop
        y = F.avg_pool2d(x, tap.pool) if tap.pool > 1 else x
        out.append((tap.label, y))
    return out


def _tracking_loss(
    maps: torch.Tensor, tap: Tap, net: TappedNet, geometry: SampleGeometry, p: OnlineParams
) -> TrackingLoss:
    cell = net.tap_info(tap.name).stride * tap.pool
    side = geometry.sample_px // cell
    size = (min(side, maps.shape[-2]), min(side, maps.shape[-1]))
    target = math.sqrt(geometry.target_px[0] * geometry.target_px[1])
    sigma = max(0.5, p.label_sigma * target / cell)
    return TrackingLoss(size, cell, sigma, p.dcf_lambda)
