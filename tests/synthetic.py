"""Synthetic clips for tests: a textured square moving over a noisy, textured background."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def moving_square_frames(
    n: int = 40,
    size: tuple[int, int] = (160, 120),
    side: int = 28,
    step: tuple[float, float] = (1.5, 0.75),
    seed: int = 0,
) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` RGB frames (w, h = ``size``) and the square's 0-based boxes, shape (n, 4)."""
    rng = np.random.default_rng(seed)
    width, height = size
    background = cv2.GaussianBlur(
        rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 3
    )
    pattern = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
    pattern[::4] = (255, 40, 40)  # stripes give the square structure the background lacks
    frames, boxes = [], []
    x, y = 20.0, 20.0
    for _ in range(n):
        frame = background.copy()
        xi, yi = round(x), round(y)
        frame[yi : yi + side, xi : xi + side] = pattern
        noise = rng.normal(0, 4, frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
        boxes.append((xi, yi, side, side))
        x = min(x + step[0], width - side - 1)
        y = min(y + step[1], height - side - 1)
    return frames, np.array(boxes, dtype=np.float64)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """An MJPG AVI that OpenCV reads back anywhere (no external encoder needed)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_image_folder(folder: Path, frames: list[np.ndarray], ext: str = ".png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, 1):
        cv2.imwrite(str(folder / f"{i:04d}{ext}"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder
