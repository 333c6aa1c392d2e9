"""benchmarks/variants.py: each variant changes what trackers are built with, and undoes it.

The figures of docs/not-adopted.md ("Tried and not adopted") are reproduced with this script;
these tests keep it pointing at the defaults it claims to change.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cftrack_cli.features.handcrafted import FHOG, fhog
from cftrack_cli.trackers import eco_deep
from conftest import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "variants.py"


@pytest.fixture(scope="module")
def variants():
    yield load_script(SCRIPT, "bench_variants")
    sys.modules.pop("bench_variants", None)


def _read_under(variants, variant: str, read):
    """``read()`` before ``variant`` is applied, while it is, and after it is undone."""
    before = read()
    undo = variants._apply(variant)
    try:
        during = read()
    finally:
        undo()
    return before, during, read()


def test_hard_orientation_switches_fhog_to_nearest_bins_and_back(variants) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    undo = variants.VARIANTS["hard-orientation"]()
    try:
        during = FHOG(4).extract(image[None])
    finally:
        undo()
    after = FHOG(4).extract(image[None])
    np.testing.assert_array_equal(during, fhog(image[None], 4, soft_orientation=False))
    np.testing.assert_array_equal(after, fhog(image[None], 4, soft_orientation=True))
    assert not np.array_equal(during, after)


def _deep_dims() -> list[int]:
    """The projected dimensions deep ECO gives two 96-channel CNN layers (and fHOG, CN)."""
    cnn = SimpleNamespace(
        layers=lambda: [SimpleNamespace(cell_size=4, dim=96), SimpleNamespace(cell_size=16, dim=96)]
    )
    return [layer.compressed_dim for layer in eco_deep.deep_params(cnn).layers]


@pytest.mark.parametrize(
    ("variant", "expected"), [("dims-3-12", [3, 12, 10, 3]), ("deep-dims-32", [16, 32, 10, 3])]
)
def test_dims_variants_set_the_deep_projection_and_restore_it(
    variants, variant: str, expected: list[int]
) -> None:
    plain, during, after = _read_under(variants, variant, _deep_dims)
    assert plain == [16, 64, 10, 3]
    assert during == expected
    assert after == plain


def test_combined_variants_apply_together_and_undo(variants) -> None:
    plain = [layer.feature for layer in eco_deep.deep_params(SimpleNamespace(layers=list)).layers]
    undo = variants._apply("eco-both-taps+eco-no-colornames")
    try:
        assert eco_deep.DEEPEST_ONLY is False
        during = eco_deep.deep_params(SimpleNamespace(layers=list)).layers
    finally:
        undo()
    assert plain == ["fhog", "colornames"]
    assert [layer.feature for layer in during] == ["fhog"]
    assert eco_deep.DEEPEST_ONLY is True
    assert [
        layer.feature for layer in eco_deep.deep_params(SimpleNamespace(layers=list)).layers
    ] == plain


def test_freeze_variants_change_eco_defaults_and_restore_them(variants) -> None:
    from cftrack_cli.trackers.eco import ECOParams

    plain, during, after = _read_under(variants, "freeze-when-peak-low", ECOParams)
    assert not plain.freeze_when_lost and plain.anchored_confidence
    assert during.freeze_when_lost and not during.anchored_confidence
    assert during.lost_threshold == 0.15
    assert after == plain


def test_strcf_freeze_variant_reaches_both_hosts_and_is_undone(variants) -> None:
    from cftrack_cli.trackers.strcf import STRCFParams
    from cftrack_cli.trackers.strcf_deep import deep_strcf_params

    cnn = SimpleNamespace(layers=list)

    def both() -> tuple[bool, bool]:
        return STRCFParams().freeze_when_lost, deep_strcf_params(cnn).freeze_when_lost

    _, during, after = _read_under(variants, "strcf-freeze-when-lost", both)
    assert during == (True, True)
    assert after == (False, False)


@pytest.mark.parametrize(
    ("name", "field", "during", "plain"),
    [
        ("deepstrcf-joint-fit", "fit_blocks_apart", False, True),
        ("deepstrcf-units-released", "block_units", "released", "shared"),
        ("deepstrcf-units-standalone", "block_units", "standalone", "shared"),
    ],
)
def test_deepstrcf_param_variants_set_their_field_and_are_undone(
    variants, name, field, during, plain
) -> None:
    from cftrack_cli.trackers import strcf_deep

    cnn = SimpleNamespace(layers=list)
    _, got, after = _read_under(
        variants, name, lambda: getattr(strcf_deep.deep_strcf_params(cnn), field)
    )
    assert got == during and after == plain


@pytest.mark.parametrize(
    ("variant", "module", "transform"),
    [
        ("strcf-numpy-fft", "strcf", "from_grid"),  # STRCF's spatial step
        ("spectra-numpy-fft", "interpolation", "half_spectrum"),  # the feature spectra
    ],
)
def test_numpy_fft_variants_swap_their_fft_and_are_undone(variants, variant, module, transform):
    mod = importlib.import_module(f"cftrack_cli.cf.{module}")
    g = np.random.default_rng(2).normal(size=(3, 8, 15)).astype(np.float32)
    shipped, before = getattr(mod, transform)(g), mod.rfft2_stack
    undo = variants.VARIANTS[variant]()
    try:
        swapped = mod.rfft2_stack is not before
        again = getattr(mod, transform)(g)
    finally:
        undo()
    assert swapped and mod.rfft2_stack is before
    np.testing.assert_allclose(again, shipped, atol=1e-4)


@pytest.fixture
def student(tmp_path: Path) -> Path:
    """A small random VGG16-shaped student file, with taps at strides 2 to 16."""
    import torch

    from cftrack_cli.nets.preprocessing import CAFFE_VGG
    from cftrack_cli.nets.student import StudentNet, vgg16_student_spec
    from cftrack_cli.nets.weights import save_student

    torch.manual_seed(0)
    net = StudentNet(vgg16_student_spec(0.125))
    return save_student(tmp_path / "s.pth", net, {"preprocessing": CAFFE_VGG})


def test_deepstrcf_two_layers_restores_both_taps_and_is_undone(variants, student) -> None:
    from cftrack_cli.trackers import create_tracker

    def deep_cells() -> list[int]:
        tracker = create_tracker(f"deepstrcf@{student}")
        return [
            layer.cell_size
            for layer in tracker.params.layers
            if layer.feature not in ("fhog", "colornames", "grayscale")
        ]

    plain, during, after = _read_under(variants, "deepstrcf-two-layers", deep_cells)
    assert plain == [16] and during == [4, 16]
    assert after == plain


@pytest.mark.parametrize(
    ("variant", "tracker", "plain", "during"),
    [
        ("deepstrcf-deepest-layer", "deepstrcf", ["conv4_3/avg2"], ["conv5_3"]),
        ("deepstrcf-mid-layer-unpooled", "deepstrcf", ["conv4_3/avg2"], ["conv4_3"]),
        ("eco-conv4", "eco-student", ["conv5_3"], ["conv4_3/avg2"]),
    ],
)
def test_layer_variants_read_the_layer_they_name_and_are_undone(
    variants, student, variant, tracker, plain, during
) -> None:
    from cftrack_cli.trackers import create_tracker

    def taps() -> list[str]:
        return [t.label for t in create_tracker(f"{tracker}@{student}").network.taps]

    before, got, after = _read_under(variants, variant, taps)
    assert before == plain and got == during
    assert after == plain


def test_eval_mode_refuses_workers(variants, capsys) -> None:
    assert variants.main(["deepstrcf-joint-fit", "eval", "data", "--workers", "2"]) == 2
    assert "one process" in capsys.readouterr().err


def test_unknown_variant_prints_usage_and_fails(variants, capsys) -> None:
    assert variants.main(["no-such-variant", "accuracy"]) == 2
    assert "hard-orientation" in capsys.readouterr().err
