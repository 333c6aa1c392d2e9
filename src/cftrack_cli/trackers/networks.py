"""The networks behind the deep presets of every CF host: the teacher, the shipped student or
a named one, as feature backends with the taps a tracker uses.

ECO (:mod:`.eco_deep`) and STRCF (:mod:`.strcf_deep`) draw their networks from here, so
``eco-student`` and ``deepstrcf`` read the same file the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from cftrack_cli.errors import UsageError
from cftrack_cli.features.backend import Tap
from cftrack_cli.features.deep import VGG16_ECO_TAPS, TorchBackend
from cftrack_cli.nets.tapped import TappedNet
from cftrack_cli.nets.teacher import load_teacher
from cftrack_cli.nets.weights import load_student
from cftrack_cli.trackers.host import LayeredHost

__all__ = [
    "DEFAULT_STUDENT",
    "STUDENT_ENV",
    "coarsest_tap",
    "default_student_path",
    "mid_level_tap",
    "student_backend",
    "student_taps",
    "teacher_backend",
    "with_network",
]

H = TypeVar("H", bound=LayeredHost)

#: The student file the student presets load when none is named.
STUDENT_ENV = "CFTRACK_STUDENT_WEIGHTS"
DEFAULT_STUDENT = "cftrack_student.pth"


def default_student_path() -> Path:
    """``$CFTRACK_STUDENT_WEIGHTS``, else the student shipped in the project's ``weights/``."""
    env = os.environ.get(STUDENT_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[1] / "weights" / DEFAULT_STUDENT,  # in a wheel (a link in a checkout)
        here.parents[3] / "weights" / DEFAULT_STUDENT,  # a checkout without the link
    ):
        if candidate.is_file():
            return candidate.resolve()
    raise UsageError(
        f"no student weights found (weights/{DEFAULT_STUDENT}); pass --weights PATH, "
        f"NAME@PATH, or set {STUDENT_ENV}"
    )


def student_backend(
    weights: str | None, *, deepest_only: bool = False
) -> tuple[TorchBackend, Path]:
    """The student named (or the default one) as a feature backend, and its file;
    ``deepest_only``: see :func:`student_taps`."""
    path = Path(weights) if weights else default_student_path()
    net, meta = load_student(path)
    return TorchBackend(net, student_taps(net, meta, deepest_only=deepest_only)), path


def teacher_backend(
    weights: str | None = None, preprocessing: str | None = None, *, deepest_only: bool = False
) -> tuple[TorchBackend, Path | None]:
    """The VGG16 teacher at its tracking taps (conv3_3, conv5_3; conv5_3 alone with
    ``deepest_only``), and its file."""
    teacher = load_teacher(weights, preprocessing)
    taps = VGG16_ECO_TAPS[-1:] if deepest_only else VGG16_ECO_TAPS
    return TorchBackend(teacher.net, taps, teacher.preprocessing), teacher.path


def coarsest_tap(cnn: TorchBackend) -> TorchBackend:
    """``cnn`` reduced to its coarsest tap (the student's and VGG16's conv5_3, CF-VGGM's relu5),
    so that a tracker reading that layer alone does not also align and pool the others every
    frame."""
    coarsest = max(cnn.taps, key=lambda tap: cnn.layout(tap).cell_size)
    return TorchBackend(cnn.net, (coarsest,), cnn.preprocessing, max_batch=cnn.max_batch)


#: Mid-level layers, by tap name, in the order looked for: VGG-M's relu3 (CF-VGGM), the layer
#: the original DeepSTRCF reads (stride 16, a 75-px view), then VGG16's conv4_3 (stride 8), which
#: cftrack's students mimic at the same stride (a 50-px view; VGG16's own: 92 px).
MID_LEVEL_TAPS = ("relu3", "conv4_3")
MID_LEVEL_STRIDE = 16  # a finer tap is average-pooled to this stride, as the original's layer


def mid_level_tap(cnn: TorchBackend) -> TorchBackend:
    """``cnn`` reduced to its mid-level layer (:data:`MID_LEVEL_TAPS`), pooled to stride 16;
    the coarsest tap for a network that has none of them.

    A mid-level layer localises what the deepest one only recognises: on truck2's fast truck
    the deepest layer's score peaked short of the target each frame and dragged STRCF behind
    it (docs/results.md, "Two CF hosts"). The network also stops there, which saves its
    deepest convolutions.
    """
    taps = cnn.net.taps
    for name in MID_LEVEL_TAPS:
        info = taps.get(name)
        if info is not None and MID_LEVEL_STRIDE % info.stride == 0:
            tap = Tap(name, pool=MID_LEVEL_STRIDE // info.stride)
            return TorchBackend(cnn.net, (tap,), cnn.preprocessing, max_batch=cnn.max_batch)
    return coarsest_tap(cnn)


def with_network(tracker: H, cnn: TorchBackend, path: Path | None) -> H:
    """``tracker`` with the network behind its deep layers recorded (bench describes it)."""
    tracker.network = cnn
    tracker.network_file = Path(path) if path else None
    return tracker


def student_taps(net: TappedNet, meta: dict, *, deepest_only: bool = False) -> tuple[Tap, ...]:
    """The student layers a tracker uses: those its file names, else a stride-4 and a
    stride-16 tap (only the stride-16 one with ``deepest_only``).

    VGG-M-like students (CF-VGGM) get ECO's own VGG-M choice whatever ``deepest_only`` says:
    norm1 pooled to stride 4, and relu5.
    """
    chosen = meta.get("tracker_taps")
    if chosen:
        return tuple(Tap(t) for t in chosen)
    taps = net.taps
    if "norm1" in taps and "relu5" in taps:
        return (Tap("norm1", pool=2), Tap("relu5"))
    by_stride: dict[int, str] = {}
    for name, info in taps.items():
        by_stride[info.stride] = name  # the deepest tap at each stride
    if deepest_only and 16 in by_stride:
        return (Tap(by_stride[16]),)
    if 4 in by_stride and 16 in by_stride:
        return (Tap(by_stride[4]), Tap(by_stride[16]))
    raise UsageError(
        "the student has no taps at strides 4 and 16 and its file names none ('tracker_taps')"
    )
