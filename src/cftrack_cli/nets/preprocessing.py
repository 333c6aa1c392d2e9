"""How RGB patches become network input: a property of the weights, recorded beside them.

``x = (patch * scale - mean_image - mean) / std`` per RGB channel, with ``patch`` in 0..255.
Caffe-trained VGG16 wants ``scale=1``, the mean colour, no std; torchvision's VGG16 wants
``scale=1/255`` and ImageNet mean/std; MatConvNet's VGG-M family (CF-VGGM) subtracts a mean
*image*, resized to the input size.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch

__all__ = ["CAFFE_VGG", "TORCHVISION", "Preprocessing", "preset"]


@dataclass(frozen=True, eq=False)
class Preprocessing:
    name: str  # "caffe", "torchvision", "mean_image", or a free label
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)  # RGB, in scaled units
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGB
    scale: float = 1.0  # 1 for 0..255 input, 1/255 for 0..1
    # (H, W, 3) RGB, scaled units, resized to each input size; None for a mean colour only.
    mean_image: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need 3 values (R, G, B)")
        if any(s <= 0 for s in self.std) or not self.scale > 0:
            raise ValueError("std and scale must be positive")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "scale", float(self.scale))
        if self.mean_image is not None:
            img = np.array(self.mean_image, dtype=np.float32)  # a private, read-only copy
            if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
                raise ValueError(f"mean_image must be (H, W, 3), got {img.shape}")
            img.setflags(write=False)
            object.__setattr__(self, "mean_image", img)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Preprocessing):
            return NotImplemented
        same_image = (self.mean_image is None and other.mean_image is None) or (
            self.mean_image is not None
            and other.mean_image is not None
            and np.array_equal(self.mean_image, other.mean_image)
        )
        return (self.name, self.mean, self.std, self.scale) == (
            other.name,
            other.mean,
            other.std,
            other.scale,
        ) and same_image

    def __hash__(self) -> int:
        shape = None if self.mean_image is None else self.mean_image.shape
        return hash((self.name, self.mean, self.std, self.scale, shape))

    # -- file round trip (weights_only-loadable: tensors, lists, numbers, strings) ---------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": self.scale,
            "mean_image": None if self.mean_image is None else torch.tensor(self.mean_image),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`; ValueError on a malformed record."""
        if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
            raise ValueError("preprocessing must be a dict with a 'name'")
        try:
            image = data.get("mean_image")
            if isinstance(image, torch.Tensor):
                image = image.detach().cpu().float().numpy()
            return cls(
                name=data["name"],
                mean=tuple(data.get("mean", (0.0, 0.0, 0.0))),
                std=tuple(data.get("std", (1.0, 1.0, 1.0))),
                scale=data.get("scale", 1.0),
                mean_image=image,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad preprocessing record: {exc}") from None

    # -- applying it ------------------------------------------------------------------------
    def __call__(self, patches: np.ndarray) -> torch.Tensor:
        """(N, H, W, 3) RGB uint8 or float 0..255 -> (N, 3, H, W) float32, channels-last layout."""
        patches = np.asarray(patches)
        if patches.ndim != 4 or patches.shape[-1] != 3:
            raise ValueError(f"patches must be (N, H, W, 3) RGB, got {patches.shape}")
        if patches.dtype != np.uint8:
            patches = patches.astype(np.float32, copy=False)
        src = torch.from_numpy(np.ascontiguousarray(patches))
        # NHWC pixels are already channels-last: no transpose copy, and oneDNN's CPU convs and
        # pools run 1.2x (VGG16) to 2x (thin students) faster on that layout than on NCHW.
        x = src.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.channels_last)
        if x.data_ptr() == src.data_ptr():
            x = x.clone(memory_format=torch.channels_last)  # never write into the caller's array
        h, w = x.shape[2:]
        std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
        if self.mean_image is None:
            # One fused multiply-subtract: (x * scale - mean) / std.
            x.mul_(self.scale / std).sub_(mean / std)
            return x
        x.mul_(self.scale).sub_(self._mean_image_chw(h, w)).sub_(mean).div_(std)
        return x

    def _mean_image_chw(self, h: int, w: int) -> torch.Tensor:
        return _resized_mean(self, h, w)


@functools.lru_cache(maxsize=16)
def _resized_mean(prep: Preprocessing, h: int, w: int) -> torch.Tensor:
    """The mean image resized to (h, w), as (1, 3, h, w); cached per size."""
    img = prep.mean_image
    assert img is not None
    if img.shape[:2] != (h, w):
        shrinking = img.shape[0] * img.shape[1] > h * w
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        img = cv2.resize(img, (w, h), interpolation=interp)
    return torch.from_numpy(np.array(img.transpose(2, 0, 1), dtype=np.float32))[None]


# Caffe / Keras VGG16 (the weights in ../shared): RGB 0..255 minus the ImageNet mean colour.
CAFFE_VGG = Preprocessing("caffe", mean=(123.68, 116.779, 103.939))
# torchvision's VGG16 (vgg16-397923af.pth): 0..1, ImageNet mean and std.
TORCHVISION = Preprocessing(
    "torchvision", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), scale=1.0 / 255.0
)
_PRESETS = {"caffe": CAFFE_VGG, "torchvision": TORCHVISION}


def preset(name: str) -> Preprocessing:
    """``"caffe"`` or ``"torchvision"``; ValueError otherwise."""
    try:
        return _PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preprocessing {name!r}: expected caffe or torchvision") from None
