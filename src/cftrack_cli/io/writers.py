"""Outputs of ``track``: the per-frame box table (CSV, JSON lines or MOTChallenge) and the
annotated video.

Regular files are written under a temporary name and renamed by :meth:`close`, which the CLI
also calls after Ctrl-C so the frames done are kept; :meth:`abort` removes the partial file after
an error. A stream (a named pipe, ``/dev/null``) is written to in place and never removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import CftrackError
from cftrack_cli.io.atomic import is_stream, partial_path

#: ``--format`` choices and the file name each gets by default.
TABLE_FORMATS = {"csv": "boxes.csv", "jsonl": "boxes.jsonl", "mot": "boxes.txt"}
CSV_COLUMNS = ("frame", "x", "y", "w", "h", "score", "lost")


def _open_stream(path: Path, mode: str) -> IO[Any]:
    """Open a pipe or device for writing, in place (a FIFO waits here for its reader)."""
    try:
        return open(path, mode)  # closed by the writer
    except OSError as exc:
        raise CftrackError(f"{path}: cannot write ({exc.strerror or exc})") from None


class TrackTableWriter:
    """One row per frame and target; ``path=None`` writes to stdout (flushed per row).

    ``fmt``: ``csv`` (``frame,x,y,w,h,score,lost``; with ``ids`` an ``id`` column after
    ``frame``), ``jsonl`` (one JSON object per row, always with ``id``) or ``mot``
    (MOTChallenge ``frame,id,x,y,w,h,conf,-1,-1,-1``: frames and pixels 1-based as that format
    counts them, no header). Frames are the video's own indices; boxes 0-based pixels except in
    ``mot``.
    """

    def __init__(self, path: Path | None, fmt: str = "csv", ids: bool = False) -> None:
        if fmt not in TABLE_FORMATS:
            raise ValueError(f"unknown table format {fmt!r}")
        self.path = path
        self.fmt = fmt
        self.ids = ids or fmt != "csv"
        self._tmp: Path | None = None
        if path is None:
            self._out: IO[str] = sys.stdout
        elif is_stream(path):
            self._out = _open_stream(path, "w")
        else:
            self._tmp = partial_path(path)
            self._out = open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self.rows = 0
        if fmt == "csv":
            columns = (CSV_COLUMNS[0], "id", *CSV_COLUMNS[1:]) if self.ids else CSV_COLUMNS
            self._out.write(",".join(columns) + "\n")

    def write(
        self, frame_index: int, box: Box, score: float, lost: bool = False, target_id: int = 1
    ) -> None:
        self._out.write(self._row(frame_index, box, score, lost, target_id) + "\n")
        self._out.flush()
        self.rows += 1

    def _row(self, frame: int, box: Box, score: float, lost: bool, target_id: int) -> str:
        if self.fmt == "jsonl":
            x, y, w, h = (round(float(v), 2) for v in box)
            row = {"frame": frame, "id": target_id, "x": x, "y": y, "w": w, "h": h}
            return json.dumps({**row, "score": round(float(score), 4), "lost": bool(lost)})
        if self.fmt == "mot":
            x, y, w, h = box
            values = (f"{v:.2f}" for v in (x + 1, y + 1, w, h))
            return f"{frame + 1},{target_id},{','.join(values)},{score:.4f},-1,-1,-1"
        fields = [str(frame), *([str(target_id)] if self.ids else [])]
        fields += [f"{v:.2f}" for v in box]
        return ",".join([*fields, f"{score:.4f}", "1" if lost else "0"])

    def close(self) -> None:
        """Finish the output: flush it, and give a regular file its final name."""
        if self.path is None:
            self._out.flush()
            return
        if not self._out.closed:
            self._out.close()
            if self._tmp is not None:
                os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop a file that would be incomplete (a stream is only closed)."""
        if self.path is None:
            return
        if not self._out.closed:
            with contextlib.suppress(OSError):  # a pipe whose reader left
                self._out.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


#: Box colours (RGB) by target: the first is the single-target green, red stays for "lost".
PALETTE = (
    (0, 220, 0),
    (0, 170, 255),
    (255, 170, 0),
    (230, 0, 230),
    (0, 230, 230),
    (255, 255, 0),
    (150, 110, 255),
    (255, 120, 170),
)
LOST_COLOUR = (230, 40, 40)


def target_colour(position: int) -> tuple[int, int, int]:
    """The colour of the ``position``-th target (0-based), cycling through :data:`PALETTE`."""
    return PALETTE[position % len(PALETTE)]


def _label(out: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """``text`` in white on a ``colour`` block whose top-left corner is ``org``."""
    h, w = out.shape[:2]
    scale = max(0.45, min(h, w) / 600)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = min(max(org[0], 0), max(w - tw - 8, 0))
    y = min(max(org[1], 0), max(h - th - base - 8, 0))
    cv2.rectangle(out, (x, y), (x + tw + 8, y + th + base + 8), colour, -1)
    luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    ink = (0, 0, 0) if luma > 110 else (255, 255, 255)  # black on light colours
    cv2.putText(
        out, text, (x + 4, y + th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, 1, cv2.LINE_AA
    )


def draw_targets(
    frame: np.ndarray,
    frame_index: int,
    targets: Sequence[tuple[int, Box, float, bool]],
    show_ids: bool = True,
) -> np.ndarray:
    """A copy of ``frame`` with each target's box, in its own colour, labelled with its id and
    score; the frame number in the top-left corner.

    ``targets`` are ``(id, box, score, lost)``; a lost target's box is thin with "LOST" in its
    label. Without ``show_ids`` (one target) the look is :func:`draw_box`'s.
    """
    if not show_ids and len(targets) == 1:
        _, box, score, lost = targets[0]
        return draw_box(frame, box, score, frame_index, lost)
    out = np.ascontiguousarray(frame).copy()
    h, w = out.shape[:2]
    thick = max(2, round(min(h, w) / 240))
    for position, (target_id, box, score, lost) in enumerate(targets):
        colour = target_colour(position)
        p0 = (round(box.x), round(box.y))
        p1 = (round(box.x + box.w), round(box.y + box.h))
        cv2.rectangle(out, p0, p1, colour, 1 if lost else thick, cv2.LINE_AA)
        text = f"{target_id} {score:.2f}" + (" LOST" if lost else "")
        scale = max(0.45, min(h, w) / 600)
        text_h = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][1] + 12
        # Above the box when there is room, else just inside its top edge.
        _label(out, text, (p0[0], p0[1] - text_h if p0[1] >= text_h else p0[1] + thick), colour)
    _label(out, f"#{frame_index}", (0, 0), (0, 0, 0))
    return out


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
    colour = LOST_COLOUR if lost else PALETTE[0]
    cv2.rectangle(out, p0, p1, colour, 1 if lost else thick, cv2.LINE_AA)
    label = f"#{frame_index}  score {score:.2f}" + ("  LOST" if lost else "")
    _label(out, label, (0, 0), (0, 0, 0))
    return out


class AnnotatedVideoWriter:
    """H.264 mp4 through imageio-ffmpeg's bundled ffmpeg, started on the first frame.

    ffmpeg runs in its own process group, so Ctrl-C reaches us, not it, and :meth:`close` can
    still finish a playable file. A stream (a pipe, ``/dev/null``) gets a fragmented mp4, the
    kind that needs no seeking back, written in place.
    """

    def __init__(self, path: Path, fps: float | None) -> None:
        self.path = path
        self.fps = fps if fps and fps > 0 else 30.0
        self._stream = is_stream(path)
        self._tmp = path if self._stream else partial_path(path)
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
                output_params=["-preset", "veryfast", "-crf", "23", "-f", "mp4"]
                + (["-movflags", "frag_keyframe+empty_moov"] if self._stream else []),
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
        if not self._stream:
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        if self._gen is not None:
            gen, self._gen = self._gen, None
            with contextlib.suppress(Exception):  # the partial file goes anyway
                gen.close()
        if not self._stream:  # never remove a pipe or a device
            self._tmp.unlink(missing_ok=True)
