"""A tiny synthetic OTB-layout dataset: a coloured square moving over noise.

For tests and self-checks of ``cftrack eval`` that need no downloaded data: every sequence has
``img/0001.jpg...`` and a 1-based, comma-separated ``groundtruth_rect.txt``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cftrack_cli.io.annotations import write_boxes


def square_sequence(
    frames: int = 20, size: tuple[int, int] = (64, 64), side: int = 14, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """BGR frames of a square drifting over noise, and its boxes (0-based x, y, w, h)."""
    width, height = size
    rng = np.random.default_rng(seed)
    colour = tuple(int(c) for c in rng.integers(60, 255, size=3))
    x, y = (width - side) / 2.0, (height - side) / 2.0
    vx, vy = rng.uniform(-1.5, 1.5, size=2)
    images, boxes = [], []
    for _ in range(frames):
        image = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
        x0, y0 = round(x), round(y)
        cv2.rectangle(image, (x0, y0), (x0 + side - 1, y0 + side - 1), colour, thickness=-1)
        images.append(image)
        boxes.append((float(x0), float(y0), float(side), float(side)))
        x = float(np.clip(x + vx, 0, width - side))
        y = float(np.clip(y + vy, 0, height - side))
    return images, np.array(boxes)


def write_sequence(
    folder: Path,
    frames: int = 20,
    size: tuple[int, int] = (64, 64),
    seed: int = 0,
    suffix: str = ".jpg",
) -> np.ndarray:
    """Write one OTB sequence folder; returns its 0-based ground-truth boxes."""
    images, boxes = square_sequence(frames, size, seed=seed)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images, start=1):
        if not cv2.imwrite(str(folder / "img" / f"{i:04d}{suffix}"), image):
            raise OSError(f"could not write {folder / 'img'}")
    write_boxes(folder / "groundtruth_rect.txt", boxes)
    return boxes


def write_dataset(
    root: Path,
    names: tuple[str, ...] = ("Alpha", "Beta"),
    frames: int = 20,
    size: tuple[int, int] = (64, 64),
) -> dict[str, np.ndarray]:
    """Write an OTB-layout dataset of ``names``; returns each sequence's 0-based boxes."""
    return {name: write_sequence(root / name, frames, size, seed=i) for i, name in enumerate(names)}
