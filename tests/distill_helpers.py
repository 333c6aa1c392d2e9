"""Shared by the distillation tests: a tiny corpus, a tiny random teacher, a DDP worker."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from cftrack_cli.distill.data import PairParams
from cftrack_cli.distill.train import DistillConfig
from cftrack_cli.nets.preprocessing import CAFFE_VGG
from cftrack_cli.nets.student import StudentNet
from cftrack_cli.nets.teacher import Teacher
from synthetic import moving_square_frames, write_image_folder, write_video

# A small VGG-like teacher whose taps carry VGG16's names and strides (conv3_3: 4, conv5_3: 16).
TINY_TEACHER_SPEC = [
    {"type": "conv", "name": "c1", "out": 8, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel": 2},
    {"type": "conv", "name": "c2", "out": 16, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel": 2},
    {"type": "conv", "name": "c3", "out": 24, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "tap", "name": "conv3_3"},
    {"type": "maxpool", "kernel": 2},
    {"type": "conv", "name": "c4", "out": 24, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "kernel": 2},
    {"type": "conv", "name": "c5", "out": 32, "kernel": 3, "pad": 1},
    {"type": "relu"},
    {"type": "tap", "name": "conv5_3"},
]


def tiny_teacher(seed: int = 0) -> Teacher:
    """A random teacher, the same for the same seed (no weights file: hashed by its tensors)."""
    torch.manual_seed(seed)
    net = StudentNet(TINY_TEACHER_SPEC).eval().requires_grad_(False)
    with torch.no_grad():  # keep the maps of a 0..255 input in a sane range
        net.c1.weight.mul_(1 / 60)
    return Teacher(net=net, preprocessing=CAFFE_VGG, path=Path("tiny-teacher"), source="test")  # type: ignore[arg-type]


def tiny_config(**changes: Any) -> DistillConfig:
    """48 px crops (12x12 maps at stride 4, 3x3 at 16), 64 pairs, 8 steps per epoch."""
    base = DistillConfig(
        width=0.0625,
        n_pairs=64,
        batch_size=8,
        epochs=3,
        lr=3e-3,
        pca_dims=(8, 0),
        tracking_taps=("conv3_3",),  # a 12x12 map (conv5_3's is 3x3 at 48 px)
        tracking_weight=1.0,
        val_pairs=16,
        pairs=PairParams(crop_size=48),
    )
    return replace(base, **changes)


def texture(seed: int, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (*size, 3)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 2.0).clip(0, 255).astype(np.uint8)


def make_corpus(root: Path) -> Path:
    """3 textured images, a 12-frame video and a 12-frame boxed sequence under ``root``."""
    images = root / "images"
    images.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), texture(i))
    frames, boxes = moving_square_frames(n=12, size=(160, 120))
    (root / "videos").mkdir()
    write_video(root / "videos" / "clip.avi", frames)
    seq = root / "sequences" / "square"
    write_image_folder(seq / "img", frames, ext=".png")
    (seq / "groundtruth_rect.txt").write_text(
        "\n".join(f"{x + 1},{y + 1},{w},{h}" for x, y, w, h in boxes) + "\n"
    )
    return root


def write_random_vgg16(path: Path) -> Path:
    """A randomly initialised VGG16 conv base in the torchvision layout (float16, 29 MB)."""
    from cftrack_cli.nets.teacher import VGG16Features

    torch.manual_seed(0)
    torch.save({k: v.half() for k, v in VGG16Features().state_dict().items()}, path)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank: int, world: int, port: int, root: str, work: str) -> None:
    """One DDP rank (torch.multiprocessing.spawn): train, then dump the weights it ended with."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        GLOO_SOCKET_IFNAME="lo",
    )
    torch.set_num_threads(1)
    from cftrack_cli.distill.data import discover_sources
    from cftrack_cli.distill.train import distill

    w = Path(work)
    result = distill(
        tiny_config(epochs=2),
        tiny_teacher(),
        discover_sources([Path(root)]),
        w / "ddp.pth",
        cache_dir=w / "cache",
        device="cpu",
    )
    assert result.student is not None
    torch.save(result.student.state_dict(), w / f"rank{rank}.pt")
