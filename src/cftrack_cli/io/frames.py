"""Frame sources: video files, image folders and cameras, all yielding RGB uint8 (H, W, 3).

Colour, grayscale, RGBA and 16-bit inputs are converted here, once, so trackers only ever see
one frame format.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from cftrack_cli.errors import CftrackError, UsageError

# FFmpeg inside OpenCV prints its own complaints (e.g. "moov atom not found") to stderr; we
# report unreadable input ourselves, in one line. Set the variable to 16 or more to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


class FrameSource(ABC):
    """An iterable of RGB uint8 frames with what is known about the stream."""

    #: A short name for the input (file stem, folder or sequence name, ``camera0``).
    name: str
    #: Frames per second where the container says so, else None.
    fps: float | None = None
    #: Number of frames if known up front. A hint: damaged files may hold fewer.
    frame_count: int | None = None

    @abstractmethod
    def __iter__(self) -> Iterator[np.ndarray]: ...

    def frames_from(self, start: int) -> Iterator[np.ndarray]:
        """The frames from index ``start`` on (0-based), the earlier ones skipped."""
        return itertools.islice(iter(self), start, None)

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release the underlying file or device."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any image OpenCV decodes (grey, BGR, BGRA; 8 or 16 bit; float) as RGB uint8."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        scale = 255.0 if image.dtype.kind == "f" and float(np.nanmax(image)) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class VideoFileSource(FrameSource):
    """A video file decoded by OpenCV's FFmpeg back end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise UsageError(f"{path}: not a video OpenCV can read")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else None
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise UsageError(f"{path}: no frame could be decoded (empty or not a video)")
        self._first: np.ndarray | None = first

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames_from(0)

    def frames_from(self, start: int) -> Iterator[np.ndarray]:
        # Skipped frames are decoded in order but not converted (grab, no retrieve): exact, where
        # a seek (CAP_PROP_POS_FRAMES) may land on a nearby key frame.
        if self._first is None:
            raise RuntimeError("a video source can be iterated once")
        frame: np.ndarray | None
        frame, self._first = self._first, None  # frame 0, read on opening
        if start > 0:
            for _ in range(start):  # frames 1 .. start
                if not self._cap.grab():
                    return
            ok, frame = self._cap.retrieve()
            if not ok:
                return
        while frame is not None:
            yield to_rgb8(frame)
            ok, frame = self._cap.read()
            if not ok:
                frame = None

    def close(self) -> None:
        self._cap.release()


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """OpenCV's own log silenced inside the block, its level restored after."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


class CameraSource(FrameSource):
    """A live camera by OpenCV device index; iterates until the device stops."""

    def __init__(self, index: int) -> None:
        self.name = f"camera{index}"
        with quiet_opencv():  # the one line below says it; OpenCV's [ WARN ] lines do not
            self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            raise UsageError(f"camera {index} could not be opened")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else None

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                return
            yield to_rgb8(frame)

    def close(self) -> None:
        self._cap.release()


def natural_key(name: str) -> list[object]:
    """Sort key that puts ``img2.jpg`` before ``img10.jpg``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


class ImageFolderSource(FrameSource):
    """Images in a folder, in natural order; an OTB sequence folder uses its ``img/``."""

    def __init__(self, folder: Path, fps: float | None = None) -> None:
        self.name = folder.name
        if (folder / "img").is_dir():
            folder = folder / "img"
        self.folder = folder
        self.files = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=lambda p: natural_key(p.name),
        )
        if not self.files:
            raise UsageError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.frame_count = len(self.files)
        self.fps = fps

    def __iter__(self) -> Iterator[np.ndarray]:
        return read_images(self.files)

    def frames_from(self, start: int) -> Iterator[np.ndarray]:
        return read_images(self.files[start:])  # the skipped files are never read


def read_images(files: Iterable[Path]) -> Iterator[np.ndarray]:
    """Image files as RGB uint8 frames, which must all share the first one's size."""
    size: tuple[int, int] | None = None
    for path in files:
        frame = read_image(path)
        if size is None:
            size = frame.shape[:2]
        elif frame.shape[:2] != size:
            raise CftrackError(
                f"{path}: frame is {frame.shape[1]}x{frame.shape[0]}, "
                f"but the first frame is {size[1]}x{size[0]}; frames must share one size"
            )
        yield frame


def read_image(path: Path) -> np.ndarray:
    """One image file as RGB uint8, or a one-line error."""
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile+imdecode copes with any path text
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise CftrackError(f"{path}: not an image OpenCV can decode")
    return to_rgb8(image)


def open_frames(spec: str | os.PathLike[str] | int) -> FrameSource:
    """Open a video file, an image folder (or OTB sequence folder), or a camera index."""
    if isinstance(spec, int):
        return CameraSource(spec)
    text = str(spec)
    path = Path(text)
    if not path.exists():
        if text.isdigit():
            return CameraSource(int(text))
        raise UsageError(f"{text}: no such file or folder")
    if path.is_dir():
        return ImageFolderSource(path)
    if not os.access(path, os.R_OK):
        raise UsageError(f"{text}: not readable (permission denied)")
    if path.stat().st_size == 0:
        raise UsageError(f"{text}: the file is empty")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(f"{text}: a single image; give a video or a folder of images")
    return VideoFileSource(path)
