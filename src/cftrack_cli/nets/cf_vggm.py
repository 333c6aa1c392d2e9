"""The paper authors' student, CF-VGGM, as a :class:`StudentNet` (a reference to compare with).

The converted MatConvNet file (``../shared/weights/cf_vggm_student.pth``) holds
``{'state_dict': conv1..conv5, 'average_image': (224, 224, 3) RGB, 'meta': {...}}``.
Architecture (VGG-M's conv part at 1/8 of the channels): conv1 7x7/2 no pad 3->12, ReLU,
LRN, max-pool 3x3/2 padded bottom/right by 1; conv2 5x5/2 pad 1 12->32, ReLU, LRN, same pool;
conv3-5 3x3 pad 1 (64 channels), ReLU each. MatConvNet's LRN (N=5, k=2, alpha=1e-4,
beta=0.75) is torch's ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)``. Input: RGB 0..255
minus the average image resized to the input size.

Taps (strides verified by running it): ``norm1`` 2, ``pool1`` 4, ``norm2`` 8, ``pool2`` and
``conv3``...``conv5`` 16. Unlike VGG16 these are not centred on their pixel blocks: conv1 has
no padding, so cell 0 of ``norm1`` is centred on pixel 3.5 (offset +2.5 px) and cell 0 of
``conv5`` on pixel 17.5 (offset +9.5 px); the maps also have fewer than ``H // stride`` cells.
:mod:`cftrack_cli.features.deep` re-aligns them by whole cells.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from cftrack_cli.errors import UsageError
from cftrack_cli.nets.checkpoint import file_sha256, read_checkpoint
from cftrack_cli.nets.preprocessing import Preprocessing
from cftrack_cli.nets.student import StudentNet

__all__ = ["cf_vggm_spec", "is_cf_vggm_checkpoint", "load_cf_vggm"]

_LRN = {"type": "lrn", "size": 5, "alpha": 5e-4, "beta": 0.75, "k": 2.0}
_POOL = {"type": "maxpool", "kernel": 3, "stride": 2, "pad": [0, 1, 0, 1]}


def cf_vggm_spec() -> list[dict[str, Any]]:
    """CF-VGGM as a layer spec, with taps after every stage (MatConvNet's layer names)."""

    def conv(name: str, out: int, kernel: int, stride: int, pad: int) -> list[dict[str, Any]]:
        layer = {"type": "conv", "name": name, "out": out, "kernel": kernel, "stride": stride}
        return [{**layer, "pad": pad}, {"type": "relu"}]

    return [
        *conv("conv1", 12, 7, 2, 0),
        {"type": "tap", "name": "relu1"},
        dict(_LRN),
        {"type": "tap", "name": "norm1"},
        dict(_POOL),
        {"type": "tap", "name": "pool1"},
        *conv("conv2", 32, 5, 2, 1),
        {"type": "tap", "name": "relu2"},
        dict(_LRN),
        {"type": "tap", "name": "norm2"},
        dict(_POOL),
        {"type": "tap", "name": "pool2"},
        *conv("conv3", 64, 3, 1, 1),
        {"type": "tap", "name": "relu3"},
        *conv("conv4", 64, 3, 1, 1),
        {"type": "tap", "name": "relu4"},
        *conv("conv5", 64, 3, 1, 1),
        {"type": "tap", "name": "relu5"},
    ]


def is_cf_vggm_checkpoint(obj: Any) -> bool:
    """Whether a loaded object looks like the converted CF-VGGM file."""
    return (
        isinstance(obj, Mapping)
        and isinstance(obj.get("state_dict"), Mapping)
        and "average_image" in obj
        and "conv1.weight" in obj["state_dict"]
    )


def cf_vggm_from_checkpoint(obj: Any, path: Path) -> tuple[StudentNet, dict[str, Any]]:
    """Build the network from an already loaded CF-VGGM object; metadata in cftrack's form."""
    if not is_cf_vggm_checkpoint(obj):
        raise UsageError(f"{path}: not a CF-VGGM file (expected state_dict and average_image)")
    net = StudentNet(cf_vggm_spec())
    state = {k: v for k, v in obj["state_dict"].items() if isinstance(v, torch.Tensor)}
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    unexpected = [k for k in state if k not in expected]
    if missing or wrong or unexpected:
        problems = (("missing", missing), ("wrong shape", wrong), ("unexpected", unexpected))
        detail = "; ".join(f"{what} {', '.join(keys)}" for what, keys in problems if keys)
        raise UsageError(f"{path}: CF-VGGM weights do not fit its architecture: {detail}")
    net.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    net.eval().requires_grad_(False)
    image = obj["average_image"]
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[-1] != 3:
        raise UsageError(f"{path}: CF-VGGM average_image must be an (H, W, 3) tensor")
    prep = Preprocessing("mean_image", mean_image=image.to(torch.float32).numpy())
    net.preprocessing = prep
    source_meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else {}
    meta: dict[str, Any] = {
        "architecture": {"name": "cf-vggm", "spec": net.spec, "in_channels": 3},
        "width": 0.125,  # of VGG-M's channels
        "taps": [t.as_dict() for t in net.taps.values()],
        "preprocessing": prep.to_dict(),
        "teacher": {"name": "vgg-m (imagenet-vgg-m-2048)", "weights_file": None},
        "training": {"settings": None, "data": "as released by the paper's authors"},
        "source": source_meta.get("source", "CF-VGGM (github 594422814/CF-VGG)"),
        "weights_sha256_prefix": file_sha256(path)[:16] if path.is_file() else None,
        "metrics": {},
    }
    return net, meta


def load_cf_vggm(path: str | os.PathLike[str]) -> tuple[StudentNet, dict[str, Any]]:
    """Load the converted CF-VGGM file: (network with ``.preprocessing`` set, metadata)."""
    p = Path(path).expanduser()
    return cf_vggm_from_checkpoint(read_checkpoint(p, "CF-VGGM weights"), p)
