"""Outputs of ``track``: the per-frame CSV and the annotated video.

Both are written under a temporary name and renamed by :meth:`close`, which the CLI also calls
after Ctrl-C so the frames done are kept; :meth:`abort` removes the partial file after an error.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.io.atomic import partial_path

CSV_COLUMNS = ("frame", "x", "y", "w", "h", "score", "lost")


class TrackCsvWriter:
    """``frame,x,y,w,h,score,lost`` rows; ``path=None`` writes to stdout (flushed per row)."""

    def __init__(self, path: Path | None, columns: Sequence[str] = CSV_COLUMNS) -> None:
        self.path = path
        self.columns = tuple(columns)
        self._tmp = partial_path(path) if path is not None else None
        self._out: IO[str] = (
            open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115  (closed by close/abort)
            if self._tmp
            else sys.stdout
        )
        self.rows = 0
        self._out.write(",".join(self.columns) + "\n")

    def write(self, frame_index: int, box: Box, score: float, lost: bool = False) -> None:
        values = [f"{v:.2f}" for v in box]
        fields = [str(frame_index), *values, f"{score:.4f}", "1" if lost else "0"]
        self._out.write(",".join(fields) + "\n")
        self._out.flush()
        self.rows += 1

    def close(self) -> None:
        """Finish the file: flush and give it its final name."""
        if self._tmp is None:
            self._out.flush()
            return
        if not self._out.closed:
            self._out.close()
            os.replace(self._tmp, self.path)  # type: ignore[arg-type]

    def abort(self) -> None:
        """Drop a file that would be incomplete."""
        if self._tmp is None:
            return
        if not self._out.closed:
            self._out.close()
        self._tmp.unlink(missing_ok=True)


def draw_box(
    frame: np.ndarray, box: Box, score: float, frame_index: int, lost: bool = False
) -> np.ndarray:
    """A copy of ``frame`` with the box, the score and the frame number drawn on it.

    A frame the tracker flags as lost gets a red, thin box and "LOST" in its label.
    """
    out = np.ascontiguousarray(frame).copy()
    h, w = out.shape[:2]
    thick = max(2, round(min(h, w) / 240))
    p0 = (round(box.x), round(box.y))
    p1 = (round(box.x + box.w), round(box.y + box.h))
    colour = (230, 40, 40) if lost else (0, 220, 0)
    cv2.rectangle(out, p0, p1, colour, 1 if lost else thick, cv2.LINE_AA)
    label = f"#{frame_index}  score {score:.2f}" + ("  LOST" if lost else "")
    scale = max(0.45, min(h, w) / 600)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
    cv2.putText(
        out, label, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )
    return out


class AnnotatedVideoWriter:
    """H.264 mp4 through imageio-ffmpeg's bundled ffmpeg, started on the first frame.

    ffmpeg runs in its own process group, so Ctrl-C reaches us, not it, and :meth:`close` can
    still finish a playable file.
    """

    def __init__(self, path: Path, fps: float | None) -> None:
        self.path = path
        self.fps = fps if fps and fps > 0 else 30.0
        self._tmp = partial_path(path)
        self._gen: Any = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        import imageio_ffmpeg

        h, w = rgb.shape[:2]
        if self._gen is None:
            # yuv420p needs even sides: pad by one pixel rather than resample.
            self._size = (w + w % 2, h + h % 2)
            self._gen = imageio_ffmpeg.write_frames(
                str(self._tmp),
                self._size,
                fps=self.fps,
                codec="libx264",
                pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p",
                macro_block_size=1,
                output_params=["-preset", "veryfast", "-crf", "23", "-f", "mp4"],
                ffmpeg_log_level="error",
            )
            self._gen.send(None)
        assert self._size is not None
        if (w + w % 2, h + h % 2) != self._size:
            rgb = cv2.resize(rgb, (self._size[0], self._size[1]))
        elif (w, h) != self._size:
            rgb = cv2.copyMakeBorder(rgb, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        self._gen.send(np.ascontiguousarray(rgb))
        self.frames += 1

    def close(self) -> None:
        """Finish the file (ffmpeg writes its index) and give it its final name."""
        if self._gen is None:
            return
        if self._gen.gi_frame is None:  # ffmpeg was stopped mid-frame: the file is broken
            self.abort()
            return
        gen, self._gen = self._gen, None
        gen.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._gen is not None:
            gen, self._gen = self._gen, None
            with contextlib.suppress(Exception):  # the partial file goes anyway
                gen.close()
        self._tmp.unlink(missing_ok=True)
