"""DeepSTRCF: STRCF on CNN layers (the distilled student or the VGG16 teacher) plus fHOG and
ColorNames, the same networks and taps as the deep ECO presets (:mod:`.networks`)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from cftrack_cli.features.backend import prebuilt_extractor
from cftrack_cli.features.deep import TorchBackend
from cftrack_cli.trackers.layers import FeatureLayer
from cftrack_cli.trackers.networks import student_backend, teacher_backend, with_network
from cftrack_cli.trackers.registry import register
from cftrack_cli.trackers.strcf import STRCFParams, STRCFTracker

__all__ = ["deep_strcf_params"]


def deep_strcf_params(cnn: TorchBackend) -> STRCFParams:
    """DeepSTRCF's published setting (``run_DeepSTRCF.m``) on the taps of ``cnn`` plus fHOG
    and ColorNames at 4-pixel cells (the original: VGG-M conv3 with grey + fHOG + CN).

    Deviation: both of the network's taps (stride 4 and 16, as deep ECO) rather than one deep
    layer; grey intensity only on grey frames.
    """
    cnn_layers = tuple(
        FeatureLayer(feature=partial(prebuilt_extractor, layer), cell_size=layer.cell_size)
        for layer in cnn.layers()
    )
    return replace(
        STRCFParams(),
        layers=(
            *cnn_layers,
            FeatureLayer("fhog", cell_size=4),
            FeatureLayer("colornames", cell_size=4, frames="color"),
            FeatureLayer("grayscale", cell_size=4, frames="gray"),
        ),
        search_area_scale=4.5,
        min_sample_area=200.0**2,
        max_sample_area=250.0**2,
        # As strcf's, on the same 10 dev sequences: 2.1 % of tracked frames fall below it,
        # 32 % of failed ones.
        lost_threshold=0.08,
    )


@register("deepstrcf", "STRCF with the distilled student's layers + fHOG + ColorNames: fast")
def deepstrcf(*, weights: str | None = None) -> STRCFTracker:
    cnn, path = student_backend(weights)
    return with_network(STRCFTracker(deep_strcf_params(cnn)), cnn, path)


@register("deepstrcf-teacher", "STRCF with VGG16 conv3_3 + conv5_3 + fHOG + ColorNames: slow")
def deepstrcf_teacher(
    *, teacher_weights: str | None = None, teacher_preprocessing: str | None = None
) -> STRCFTracker:
    cnn, path = teacher_backend(teacher_weights, teacher_preprocessing)
    return with_network(STRCFTracker(deep_strcf_params(cnn)), cnn, path)
