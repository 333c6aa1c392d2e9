"""Shared fixtures: synthetic clips made on the fly, and the optional ../shared data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from synthetic import moving_square_frames, write_image_folder, write_video

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test when it is absent (a user's machine)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data; CI has it)")
    return path


@pytest.fixture
def square_clip() -> tuple[list[np.ndarray], np.ndarray]:
    """40 frames 160x120 of a textured square moving right and down, with its boxes."""
    return moving_square_frames(n=40, size=(160, 120))


@pytest.fixture
def square_video(tmp_path: Path, square_clip) -> tuple[Path, np.ndarray]:
    frames, boxes = square_clip
    return write_video(tmp_path / "square.avi", frames), boxes


@pytest.fixture
def square_folder(tmp_path: Path, square_clip) -> tuple[Path, np.ndarray]:
    frames, boxes = square_clip
    return write_image_folder(tmp_path / "square", frames), boxes


@pytest.fixture(scope="session")
def vgg_weights(tmp_path_factory) -> Path:
    """A randomly initialised VGG16 teacher file (torchvision layout, float16), written once."""
    from distill_helpers import write_random_vgg16

    return write_random_vgg16(tmp_path_factory.mktemp("teacher") / "random_vgg16.pth")


def load_script(path: Path, name: str) -> ModuleType:
    """A benchmark script as a module (``name`` in sys.modules until the caller pops it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
