"""Measure a tracker variant that has no switch of its own: accuracy over perturbed starts, or
speed on one sequence.

A variant changes one module-level default before any tracker is built (worker processes are
forked afterwards, so they inherit it). These are the alternatives the "Tried and not adopted"
table of docs/not-adopted.md reports:

* ``hard-orientation``: fHOG puts each gradient in its nearest orientation bin, as the toolbox's
  ``fhog.m`` does (``softBin=-1``), instead of interpolating between the two nearest bins;
* ``dims-3-12``: deep ECO projects the student's two layers to 3 and 12 channels (the paper's
  release) instead of ECO's 16 and 64;
* ``deep-dims-32``: deep ECO projects stride-16 layers to 32 channels instead of 64 (the
  shipped student's conv5_3 has 32 and stays as it is; wider students, CF-VGGM and the teacher
  change);
* ``deep-published``, ``student-shallow``, ``eco-both-taps``, ``eco-no-colornames``: see their
  functions;
* ``freeze-when-lost``, ``freeze-when-peak-low``: frames flagged lost teach the tracker nothing;
  ``strcf-freeze-when-lost``: the same for both STRCF hosts;
* ``deepstrcf-two-layers``, ``deepstrcf-vot``: ``deepstrcf`` on both of the network's taps (as
  it was until 2026-12-01), and on DeepSTRCF's VOT setting (see their functions);
  ``deepstrcf-joint-fit``: STRCF's layers fitted to the label jointly, not per resolution
  (``deepstrcf`` until 2026-12-01, with ``deepstrcf-two-layers`` its preset then);
  ``deepstrcf-units-released``, ``deepstrcf-units-standalone``: the CNN block's penalties in
  the original code's units or in those of a block alone (``STRCFParams.block_units``);
  ``deepstrcf-deepest-layer``: both deep STRCF presets on the network's deepest layer (the
  student's conv5_3), as until 2026-12-02, instead of its mid-level one (conv4_3 pooled to
  stride 16); ``deepstrcf-mid-layer-unpooled``: on the mid-level layer at its own stride (8);
  ``eco-conv4``: ``eco-student`` on the student's conv4_3 pooled to stride 16 instead of conv5_3;
  ``strcf-numpy-fft``: both STRCF hosts with numpy's FFT in the spatial step (as until
  2026-12-01; ``strcf-numpy-fft+deepstrcf-joint-fit`` is ``deepstrcf`` as it was then);
  ``spectra-numpy-fft``: the feature stage's spectra (every ECO and STRCF tracker) on numpy's
  FFT, as until 2026-12-02.

    .venv/bin/python benchmarks/variants.py hard-orientation accuracy \\
        ../shared/data/distill/sequences -t eco-hc
    .venv/bin/python benchmarks/variants.py dims-3-12 speed \\
        ../shared/data/sequences/bag -t eco-student

Variants combine with ``+`` (``eco-both-taps+eco-no-colornames`` is deep ECO as it was before
the dev benchmark). ``accuracy`` takes ``benchmarks/multistart.py``'s arguments. ``speed``
times the plain tracker and the variant in turns with ``cftrack bench``'s timing (``--repeats``
each, one pinned core) and prints frames/s of every turn. ``eval`` runs ``cftrack eval`` with
its arguments (one worker) on the variant, for per-frame results and scores.
A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing
sys.path.insert(0, str(HERE))


def _hard_orientation() -> Callable[[], None]:
    from cftrack_cli.features.handcrafted import FHOG

    defaults = FHOG.__init__.__kwdefaults__
    before = defaults["soft_orientation"]
    defaults["soft_orientation"] = False

    def undo() -> None:
        defaults["soft_orientation"] = before

    return undo


def _set(module: object, name: str, value: object) -> Callable[[], None]:
    """Set ``module.name`` to ``value``; returns how to put the old value back."""
    before = getattr(module, name)
    setattr(module, name, value)
    return lambda: setattr(module, name, before)


def _student_dims_3_12() -> Callable[[], None]:
    from cftrack_cli.trackers import eco_deep

    return _set(eco_deep, "DEEP_COMPRESSED_DIMS", (3, 12))


def _deep_dims_32() -> Callable[[], None]:
    from cftrack_cli.trackers import eco_deep

    return _set(eco_deep, "DEEP_COMPRESSED_DIMS", (16, 32))


def _deep_published() -> Callable[[], None]:
    """Deep presets on ECO's published deep OTB setting where ours differs from it."""
    from dataclasses import replace

    from cftrack_cli.cf.eco_filter import SolverParams
    from cftrack_cli.trackers import eco_deep

    before = eco_deep.deep_params

    def published(cnn: object) -> object:
        return replace(
            before(cnn),
            max_sample_area=300.0**2,
            learning_rate=0.011,
            n_samples=50,
            skip_after_frame=1,
            cg_forgetting_rate=80.0,
            solver=replace(
                SolverParams(),
                precond_data=0.3,
                precond_reg=0.02,
                precond_proj=75.0,
                projection_reg=2e-8,
                init_cg_iter=20,
            ),
        )

    return _set(eco_deep, "deep_params", published)


def _student_shallow() -> Callable[[], None]:
    """Students tracked on their stride-2 layer pooled to stride 4 (ECO's VGG-M choice: norm1
    pooled by 2) instead of their stride-4 layer, with their stride-16 layer as before."""
    from cftrack_cli.features.deep import Tap
    from cftrack_cli.trackers import networks

    def shallow(net: object, meta: dict, **_: object) -> tuple[Tap, ...]:
        by_stride = {info.stride: name for name, info in net.taps.items()}  # type: ignore[attr-defined]
        return (Tap(by_stride[2], pool=2), Tap(by_stride[16]))

    return _set(networks, "student_taps", shallow)


def _eco_both_taps() -> Callable[[], None]:
    """Deep ECO reads the stride-4 layer of the teacher and cftrack's students too (the
    default before the dev benchmark showed it cost more than it added)."""
    from cftrack_cli.trackers import eco_deep

    return _set(eco_deep, "DEEPEST_ONLY", False)


def _eco_no_colornames() -> Callable[[], None]:
    """Deep ECO without ColorNames: the network's layers and fHOG only."""
    from dataclasses import replace

    from cftrack_cli.trackers import eco_deep

    before = eco_deep.deep_params

    def without(cnn: object) -> object:
        params = before(cnn)
        layers = tuple(layer for layer in params.layers if layer.feature != "colornames")
        return replace(params, layers=layers)

    return _set(eco_deep, "deep_params", without)


def _defaults(cls: type, **changes: object) -> Callable[[], None]:
    """Change defaults of the parameter dataclass ``cls`` (every preset of its host builds on
    them) until undone."""
    from dataclasses import fields

    names = [f.name for f in fields(cls)]  # every field has a default, in this order
    before = cls.__init__.__defaults__
    defaults = list(before)
    for name, value in changes.items():
        defaults[names.index(name)] = value
    cls.__init__.__defaults__ = tuple(defaults)

    def undo() -> None:
        cls.__init__.__defaults__ = before

    return undo


def _eco_defaults(**changes: object) -> Callable[[], None]:
    from cftrack_cli.trackers.eco import ECOParams

    return _defaults(ECOParams, **changes)


def _deepstrcf_params(change: Callable[[object, object], object]) -> Callable[[], None]:
    """``deepstrcf`` with ``change(params, cnn)`` applied to its parameters."""
    from cftrack_cli.trackers import strcf_deep

    before = strcf_deep.deep_strcf_params
    return _set(strcf_deep, "deep_strcf_params", lambda cnn: change(before(cnn), cnn))


def _freeze_when_lost() -> Callable[[], None]:
    """Frames flagged lost (the default flag: confidence below 0.12) teach neither the
    filter nor the scale filter."""
    return _eco_defaults(freeze_when_lost=True)


def _freeze_when_peak_low() -> Callable[[], None]:
    """Frames whose score maximum is below 0.15 (the lost flag before the anchored confidence)
    teach nothing."""
    return _eco_defaults(anchored_confidence=False, lost_threshold=0.15, freeze_when_lost=True)


def _redetect() -> Callable[[], None]:
    """Every ECO preset: every frame flagged lost also searches 8 samples half a window away
    and where the last sure motion leads (the engine's ``redetect``)."""
    return _eco_defaults(redetect=True, redetect_every=1)


def _redetect_every(n: int) -> Callable[[], Callable[[], None]]:
    """``redetect``, searching on every ``n``-th frame of a run of lost frames."""
    return lambda: _eco_defaults(redetect=True, redetect_every=n)


def _strcf_freeze_when_lost() -> Callable[[], None]:
    """Both STRCF hosts: frames flagged lost teach neither the filter nor the scale filter."""
    from cftrack_cli.trackers.strcf import STRCFParams

    return _defaults(STRCFParams, freeze_when_lost=True)


def _deepstrcf_two_layers() -> Callable[[], None]:
    """``deepstrcf`` as it was until 2026-12-01: both of the network's taps (stride 4 and 16)
    with fHOG, ColorNames (colour frames) and grey (grey frames), instead of the coarsest tap
    with grey, fHOG and ColorNames."""
    from dataclasses import replace
    from functools import partial

    from cftrack_cli.features.backend import prebuilt_extractor
    from cftrack_cli.trackers import strcf_deep
    from cftrack_cli.trackers.layers import FeatureLayer

    def both_taps(params, cnn):
        layers = tuple(
            FeatureLayer(feature=partial(prebuilt_extractor, layer), cell_size=layer.cell_size)
            for layer in cnn.layers()
        )
        return replace(
            params,
            layers=(
                *layers,
                FeatureLayer("fhog", cell_size=4),
                FeatureLayer("colornames", cell_size=4, frames="color"),
                FeatureLayer("grayscale", cell_size=4, frames="gray"),
            ),
        )

    undos = [_set(strcf_deep, "mid_level_tap", lambda cnn: cnn), _deepstrcf_params(both_taps)]

    def undo() -> None:
        for u in reversed(undos):
            u()

    return undo


def _deepstrcf_vot() -> Callable[[], None]:
    """DeepSTRCF's VOT setting (``DeepSTRCF_VOT_setting.m``): temporal weight 8 (OTB: 15),
    search area 4 (OTB: 4.5)."""
    from dataclasses import replace

    return _deepstrcf_params(
        lambda params, cnn: replace(params, temporal_weight=8.0, search_area_scale=4.0)
    )


def _deepstrcf_joint_fit() -> Callable[[], None]:
    """``deepstrcf`` as it was until 2026-12-01: one filter over all layers fitted to the label
    jointly, instead of the CNN layer and the hand-crafted layers each fitting it apart."""
    from dataclasses import replace

    return _deepstrcf_params(lambda params, cnn: replace(params, fit_blocks_apart=False))


def _deepstrcf_tap(choose: Callable[[object], object]) -> Callable[[], Callable[[], None]]:
    """Both STRCF deep presets on the layer ``choose(cnn)`` gives instead of their mid-level
    one (networks.mid_level_tap)."""

    def variant() -> Callable[[], None]:
        from cftrack_cli.trackers import strcf_deep

        return _set(strcf_deep, "mid_level_tap", choose)

    return variant


def _deepest_layer(cnn):
    from cftrack_cli.trackers.networks import coarsest_tap

    return coarsest_tap(cnn)


def _unpooled_mid_layer(cnn):
    from cftrack_cli.features.backend import Tap
    from cftrack_cli.features.deep import TorchBackend
    from cftrack_cli.trackers.networks import mid_level_tap

    (tap,) = mid_level_tap(cnn).taps
    return TorchBackend(cnn.net, (Tap(tap.name),), cnn.preprocessing)


def _eco_student_tap(name: str, pool: int) -> Callable[[], Callable[[], None]]:
    """``eco-student`` (and ``eco-student@FILE`` for VGG16-shaped students) on the student's
    tap ``name`` average-pooled by ``pool`` instead of its stride-16 tap."""

    def variant() -> Callable[[], None]:
        from cftrack_cli.features.backend import Tap
        from cftrack_cli.features.deep import TorchBackend
        from cftrack_cli.trackers import eco_deep

        before = eco_deep.student_backend

        def backend(weights=None, deepest_only=False):
            cnn, path = before(weights, deepest_only=deepest_only)
            if name not in cnn.net.taps:
                return cnn, path
            return TorchBackend(cnn.net, (Tap(name, pool),), cnn.preprocessing), path

        return _set(eco_deep, "student_backend", backend)

    return variant


def _strcf_numpy_fft() -> Callable[[], None]:
    """STRCF's spatial step on numpy's FFT, as until 2026-12-01 (torch's since)."""
    import numpy as np

    from cftrack_cli.cf import strcf

    undos = [
        _set(strcf, "rfft2_stack", lambda x, norm="backward": np.fft.rfft2(x, norm=norm)),
        _set(
            strcf,
            "irfft2_stack",
            lambda xf, size, norm="backward": np.fft.irfft2(xf, s=size, norm=norm),
        ),
    ]

    def undo() -> None:
        for u in reversed(undos):
            u()

    return undo


def _spectra_numpy_fft() -> Callable[[], None]:
    """The feature stage's spectra on numpy's FFT, as until 2026-12-02 (torch's since); with
    ``strcf-numpy-fft`` every stack of maps is transformed by numpy, as before either."""
    import numpy as np

    from cftrack_cli.cf import interpolation

    return _set(interpolation, "rfft2_stack", lambda x, norm="backward": np.fft.rfft2(x, norm=norm))


def _deepstrcf_units(units: str) -> Callable[[], Callable[[], None]]:
    """``deepstrcf`` with its CNN block's penalties in ``units`` (STRCFParams.block_units)
    instead of the hand-crafted block's."""
    from dataclasses import replace

    return lambda: _deepstrcf_params(lambda params, cnn: replace(params, block_units=units))


#: name -> a function that applies the variant and returns how to undo it
VARIANTS: dict[str, Callable[[], Callable[[], None]]] = {
    "hard-orientation": _hard_orientation,
    "dims-3-12": _student_dims_3_12,
    "deep-dims-32": _deep_dims_32,
    "deep-published": _deep_published,
    "student-shallow": _student_shallow,
    "eco-both-taps": _eco_both_taps,
    "eco-no-colornames": _eco_no_colornames,
    "freeze-when-lost": _freeze_when_lost,
    "freeze-when-peak-low": _freeze_when_peak_low,
    "strcf-freeze-when-lost": _strcf_freeze_when_lost,
    "redetect": _redetect,
    "redetect-every-4": _redetect_every(4),
    "deepstrcf-two-layers": _deepstrcf_two_layers,
    "deepstrcf-vot": _deepstrcf_vot,
    "deepstrcf-joint-fit": _deepstrcf_joint_fit,
    "strcf-numpy-fft": _strcf_numpy_fft,
    "spectra-numpy-fft": _spectra_numpy_fft,
    "deepstrcf-units-released": _deepstrcf_units("released"),
    "deepstrcf-units-standalone": _deepstrcf_units("standalone"),
    "deepstrcf-deepest-layer": _deepstrcf_tap(_deepest_layer),
    "deepstrcf-mid-layer-unpooled": _deepstrcf_tap(_unpooled_mid_layer),
    "eco-conv4": _eco_student_tap("conv4_3", 2),
}


def _apply(variant: str) -> Callable[[], None]:
    """Apply ``variant`` (names joined by ``+``); returns how to undo it."""
    undos = [VARIANTS[name]() for name in variant.split("+")]

    def undo() -> None:
        for u in reversed(undos):
            u()

    return undo


def _speed(variant: str, argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog=f"variants.py {variant} speed")
    ap.add_argument("sequence", type=Path, help="one OTB-layout sequence folder")
    ap.add_argument("-t", "--tracker", required=True)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    import numpy as np

    from cftrack_cli.bench import pin_to_cores, time_trackers
    from cftrack_cli.boxes import Box
    from cftrack_cli.evaluation.datasets import find_dataset
    from cftrack_cli.io.frames import read_images
    from cftrack_cli.trackers import create_tracker

    pin_to_cores(1)
    (seq,) = find_dataset(args.sequence.parent, only=[args.sequence.name]).sequences
    frames = list(itertools.islice(read_images(seq.frames), args.frames))
    first = Box(*np.asarray(seq.groundtruth[0], dtype=np.float64))

    def with_variant():
        undo = _apply(variant)  # variants act when the tracker is built
        try:
            return create_tracker(args.tracker)
        finally:
            undo()

    factories = {"plain": lambda: create_tracker(args.tracker), variant: with_variant}
    timings = time_trackers(factories, frames, first, args.repeats)
    for label, timing in timings.items():
        values = " ".join(f"{timing.frames / s:.1f}" for s in timing.update_seconds)
        print(f"{args.tracker} {label}: {values} frames/s")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = argv[0].split("+") if argv else []
    known = names and all(n in VARIANTS for n in names)
    if len(argv) < 2 or not known or argv[1] not in ("accuracy", "speed", "eval"):
        print(__doc__)
        print(f"variants: {', '.join(VARIANTS)}; modes: accuracy, speed, eval", file=sys.stderr)
        return 2
    variant, mode, rest = argv[0], argv[1], argv[2:]
    if mode == "speed":
        return _speed(variant, rest)
    if mode == "eval":
        return _eval(variant, rest)
    _apply(variant)
    import multistart

    return multistart.main(rest)


def _eval(variant: str, argv: list[str]) -> int:
    """``cftrack eval`` with the variant applied, in this process (its worker pool starts
    fresh interpreters, which would not have it)."""
    if any(a == "--workers" or a.startswith("--workers=") for a in argv):
        print("variants.py eval runs in one process: leave out --workers", file=sys.stderr)
        return 2
    _apply(variant)
    from cftrack_cli.cli import main as cftrack

    sys.argv = ["cftrack", "eval", *argv, "--workers", "1"]
    try:
        cftrack()  # the console entry: usage errors become one line, as for cftrack itself
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
