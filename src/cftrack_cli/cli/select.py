"""``cftrack select``: draw target boxes on a frame in a browser; print them as ``--box``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import numpy as np
import typer

from cftrack_cli.boxes import Box, format_box
from cftrack_cli.cli.common import handle_errors
from cftrack_cli.errors import UsageError
from cftrack_cli.io.frames import open_frames
from cftrack_cli.picker import browser_available, pick_boxes

DEFAULT_TIMEOUT = 600.0

TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout", min=1, help="Give up (exit 2) when no box is sent within this many seconds."
    ),
]
BrowserOption = Annotated[
    bool,
    typer.Option(
        help="Open the page in the default browser when there is a desktop; without one, or "
        "with --no-browser, only its address is printed (on stderr).",
    ),
]


def box_arguments(boxes: Sequence[Box]) -> str:
    """``--box X,Y,W,H`` for each box, as ``track`` takes them."""
    return " ".join(f"--box {format_box(b)}" for b in boxes)


def choose_boxes(frame: np.ndarray, title: str, timeout: float, browser: bool) -> list[Box]:
    """The boxes the user draws on ``frame`` in the page (messages on stderr)."""
    opening = browser and browser_available()

    def ready(url: str) -> None:
        how = "opening it in the browser" if opening else "open it in a browser on this machine"
        # A plain print: rich keeps a line in its buffer until it is written, so a Ctrl-C
        # right then would print it twice.
        print(f"cftrack: draw the target boxes at {url} ({how}; Ctrl-C to stop)", file=sys.stderr)
        sys.stderr.flush()

    return pick_boxes(frame, title=title, timeout=timeout, open_browser=opening, ready=ready)


@handle_errors
def select(
    source: Annotated[
        str,
        typer.Argument(
            help="Video file, folder of images or camera index, as for track.", show_default=False
        ),
    ],
    at: Annotated[int, typer.Option("--at", min=0, help="The frame to draw on (0-based).")] = 0,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    browser: BrowserOption = True,
) -> None:
    """Draw one or more target boxes on a frame in a browser; print them for track.

    Serves a small page on 127.0.0.1 (a random port, reachable from this machine only) showing
    the frame; drag a box around each target and press Done. Prints the track arguments on
    stdout, e.g. --box 291,127,146,132 (with --start-frame N first when --at N is not 0). Exit
    status: 0 boxes printed, 2 bad input, no box within --timeout, or Cancel pressed, 130
    Ctrl-C.

    Example: cftrack track samples/bag.avi $(cftrack select samples/bag.avi)
    """
    with open_frames(source) as frames:
        frame = next(frames.frames_from(at), None)
        name = frames.name
    if frame is None:
        raise UsageError(f"{source}: has no frame {at} (it ends before)")
    boxes = choose_boxes(frame, f"{name}, frame {at}", timeout, browser)
    start = f"--start-frame {at} " if at else ""
    print(start + box_arguments(boxes), flush=True)
