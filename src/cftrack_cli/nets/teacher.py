"""The VGG16 teacher: its 13 conv layers in plain torch, and where its weights come from.

:class:`VGG16Features` has torchvision's ``vgg16().features`` layout (convs at indices
0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28; max-pools at 4, 9, 16, 23, 30), so a
torchvision-format state dict loads by key. Taps ``conv1_1 ... conv5_3`` (after ReLU) and
``pool1 ... pool5``. 3x3 convs padded by 1 and 2x2 pools make every tap exactly aligned
(offset 0) with ``H // stride`` cells.

Weights are looked for, in order: the ``--teacher-weights`` value (``path``), the
``CFTRACK_TEACHER_WEIGHTS`` variable, torch's hub cache (``<hub>/checkpoints/
vgg16-397923af.pth``). Nothing is downloaded unless the user asks (:func:`download_teacher`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cftrack_cli.errors import CftrackError, UsageError
from cftrack_cli.nets.checkpoint import file_sha256, read_checkpoint
from cftrack_cli.nets.preprocessing import Preprocessing, preset
from cftrack_cli.nets.tapped import TappedNet

__all__ = [
    "ENV_VAR",
    "HUB_FILENAME",
    "TEACHER_URL",
    "VGG16_TAP_STRIDES",
    "Teacher",
    "VGG16Features",
    "download_teacher",
    "hub_weights_path",
    "load_teacher",
    "resolve_teacher_path",
    "vgg16_spec",
]

ENV_VAR = "CFTRACK_TEACHER_WEIGHTS"
HUB_FILENAME = "vgg16-397923af.pth"
TEACHER_URL = f"https://download.pytorch.org/models/{HUB_FILENAME}"

# Preprocessing of weight files we know by name (used when neither the caller nor the file
# says): torchvision's own release, and the Caffe-origin conv base in ../shared/weights.
KNOWN_FILES = {
    HUB_FILENAME: "torchvision",
    "vgg16_imagenet_features_fp16.pth": "caffe",
}

_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (channels, convs) per block


def vgg16_spec(with_taps: bool = True) -> list[dict[str, Any]]:
    """VGG16's conv part as a layer spec; without taps, entry i is torchvision's ``features[i]``.

    Conv layers are named ``features_<i>`` after that index; taps carry the usual names.
    """
    spec: list[dict[str, Any]] = []
    index = 0  # position in torchvision's nn.Sequential

    def add(entry: dict[str, Any]) -> None:
        nonlocal index
        spec.append(entry)
        index += 1

    for b, (channels, convs) in enumerate(_BLOCKS, start=1):
        for c in range(1, convs + 1):
            add(
                {
                    "type": "conv",
                    "name": f"features_{index}",
                    "out": channels,
                    "kernel": 3,
                    "pad": 1,
                }
            )
            add({"type": "relu"})
            if with_taps:
                spec.append({"type": "tap", "name": f"conv{b}_{c}"})
        add({"type": "maxpool", "kernel": 2, "stride": 2})
        if with_taps:
            spec.append({"type": "tap", "name": f"pool{b}"})
    return spec


def _tap_strides() -> dict[str, int]:
    strides = {}
    for b, (_, convs) in enumerate(_BLOCKS, start=1):
        for c in range(1, convs + 1):
            strides[f"conv{b}_{c}"] = 2 ** (b - 1)
        strides[f"pool{b}"] = 2**b
    return strides


#: Stride (pixels per cell) of every VGG16 tap.
VGG16_TAP_STRIDES: dict[str, int] = _tap_strides()


class VGG16Features(TappedNet):
    """VGG16's conv layers with torchvision's state-dict keys (``features.N.weight``)."""

    def __init__(self) -> None:
        super().__init__(vgg16_spec(with_taps=True))
        self.features = nn.Sequential(*(module for module, _, _ in self._steps))

    def _register(self, index: int, entry: Mapping[str, Any], module: nn.Module) -> None:
        pass  # registered together as ``features`` (torchvision's indices) above


@dataclass
class Teacher:
    """A loaded teacher: the network (eval mode, float32), its preprocessing and its file."""

    net: VGG16Features
    preprocessing: Preprocessing
    path: Path
    source: str  # where the path came from: "--teacher-weights", the variable, "hub cache"
    _sha256: str | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        """The weight file's SHA-256 (computed on first use: the file can be 500 MB)."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.path)
        return self._sha256

    def record(self) -> dict[str, Any]:
        """What a student file records about the teacher it learned from."""
        return {
            "name": "vgg16",
            "weights_file": self.path.name,
            "sha256_prefix": self.sha256[:16],
            "preprocessing": self.preprocessing.name,
        }


def hub_weights_path() -> Path:
    """Where torch's hub cache keeps torchvision's VGG16 (honours TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_FILENAME


def _missing_message() -> str:
    hub = hub_weights_path()
    return (
        "no VGG16 teacher weights: pass --teacher-weights PATH, set "
        f"{ENV_VAR}=PATH, or put {HUB_FILENAME} in {hub.parent} "
        f"(download it from {TEACHER_URL}, e.g. curl -L -o {hub} {TEACHER_URL})"
    )


def resolve_teacher_path(path: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The teacher weights file and where it was found: (path, source).

    Order: ``path`` (the ``--teacher-weights`` value), ``$CFTRACK_TEACHER_WEIGHTS``, the hub
    cache. A path given explicitly that does not exist is an error (no silent fallback).
    """
    if path is not None and str(path) != "":
        p = Path(path).expanduser()
        if not p.is_file():
            raise UsageError(f"{p}: no such teacher weights file (from --teacher-weights)")
        return p, "--teacher-weights"
    env = os.environ.get(ENV_VAR, "")
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise UsageError(f"{p}: no such teacher weights file (from {ENV_VAR})")
        return p, ENV_VAR
    hub = hub_weights_path()
    if hub.is_file():
        return hub, "hub cache"
    raise UsageError(_missing_message())


def _state_dict(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], Mapping[str, Any]]:
    """The ``features.*`` tensors of a loaded file, and its metadata dict (maybe empty)."""
    meta: Mapping[str, Any] = {}
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else {}
        if "preprocessing" in obj and "preprocessing" not in meta:
            meta = {**meta, "preprocessing": obj["preprocessing"]}
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise UsageError(f"{path}: not a VGG16 state dict (expected features.N.weight keys)")
    tensors = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            continue
        key = key.removeprefix("module.")  # saved from DataParallel
        if key.startswith("features."):
            tensors[key] = value
    if not tensors:
        raise UsageError(f"{path}: not a VGG16 state dict (no features.N.weight keys)")
    return tensors, meta


def _check_keys(net: VGG16Features, tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    expected = net.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [
        f"{k} {tuple(tensors[k].shape)} (VGG16: {tuple(v.shape)})"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    if unexpected:
        extra = ", ".join(unexpected[:4]) + (" ..." if len(unexpected) > 4 else "")
        problems.append(f"unexpected {extra}")
    if wrong:
        problems.append(f"wrong shape {', '.join(wrong[:2])}{' ...' if len(wrong) > 2 else ''}")
    if problems:
        raise UsageError(f"{path}: not VGG16 conv weights: {'; '.join(problems)}")


def _decide_preprocessing(
    choice: str | Preprocessing | None, meta: Mapping[str, Any], path: Path
) -> Preprocessing:
    """(1) the caller's choice, (2) the file's metadata, (3) the known-file table."""
    if isinstance(choice, Preprocessing):
        return choice
    if choice:
        try:
            return preset(choice)
        except ValueError:
            raise UsageError(
                f"--teacher-preprocessing {choice!r}: expected caffe or torchvision"
            ) from None
    recorded = meta.get("preprocessing")
    try:
        if isinstance(recorded, str):
            return preset(recorded)
        if isinstance(recorded, Mapping):
            return Preprocessing.from_dict(recorded)
    except ValueError as exc:
        raise UsageError(f"{path}: bad preprocessing in the file's metadata ({exc})") from None
    if path.name in KNOWN_FILES:
        return preset(KNOWN_FILES[path.name])
    raise UsageError(
        f"{path}: cannot tell how these VGG16 weights expect their input; pass "
        "--teacher-preprocessing caffe (RGB 0..255 minus the mean colour) or torchvision "
        "(0..1, ImageNet mean/std)"
    )


def load_teacher(
    path: str | os.PathLike[str] | None = None,
    preprocessing: str | Preprocessing | None = None,
) -> Teacher:
    """Find, load and check the VGG16 teacher (see the module notes for the search order).

    Accepts a plain torchvision-format state dict, one under ``"state_dict"`` (with optional
    ``"meta"``), or a whole torchvision VGG16's state dict (``classifier.*`` is ignored).
    Half-precision weights are upcast to float32. ``preprocessing`` is ``"caffe"``,
    ``"torchvision"`` or a :class:`Preprocessing`; when None, the file's metadata or its
    known name decide, else :class:`UsageError`.
    """
    weights, source = resolve_teacher_path(path)
    obj = read_checkpoint(weights, "teacher weights")
    tensors, meta = _state_dict(obj, weights)
    prep = _decide_preprocessing(preprocessing, meta, weights)
    net = VGG16Features()
    _check_keys(net, tensors, weights)
    net.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    net.eval().requires_grad_(False)
    net.preprocessing = prep
    return Teacher(net=net, preprocessing=prep, path=weights, source=source)


def download_teacher(dest: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """Download torchvision's VGG16 into the hub cache (or ``dest``), checking its hash.

    Only ever called when the user asks for it (the network is not touched otherwise).
    """
    target = Path(dest).expanduser() if dest is not None else hub_weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The file name carries the first 8 hex digits of its SHA-256, checked by torch.
        torch.hub.download_url_to_file(
            TEACHER_URL, str(target), hash_prefix=HUB_FILENAME[6:14], progress=progress
        )
    except (OSError, RuntimeError) as exc:
        raise CftrackError(f"could not download {TEACHER_URL}: {exc}") from None
    return target
